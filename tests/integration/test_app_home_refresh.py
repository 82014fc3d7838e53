"""App Home refreshes: debounced, at most once per person per interval, only for recent viewers, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.fakeslack import FakeSlack
from core import deployments, locks, releases
from core.home import RefreshSchedule
from core.model import Actor, DeploymentStatus, Role
from handlers.app_home import HomePublisher, HomeRefresher
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import ADMIN, FrozenClock
from tests.support import blockkit

BOB = Actor(user_id="U0BOB00002", role=Role.DEVELOPER)
CAROL = Actor(user_id="U0CAROL003", role=Role.DEVELOPER)
DELAY = timedelta(seconds=3)
INTERVAL = timedelta(seconds=10)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(validator=blockkit.validate) as slack:
        yield slack
        assert slack.validation_errors == []


def refresher_for(uow: Callable[[], SqlUnitOfWork], clock: FrozenClock, fake: FakeSlack) -> HomeRefresher:
    client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    publisher = HomePublisher(uow, clock, client, admins={ADMIN.user_id}, default_role=Role.VIEWER)
    return HomeRefresher(publisher, RefreshSchedule(delay=DELAY, interval=INTERVAL), pace_s=0)


@pytest.fixture
async def viewers(workspace: Callable[[], SqlUnitOfWork], clock: FrozenClock) -> Callable[[], SqlUnitOfWork]:
    """bob (team payments) and carol (no team), developers, with a release to deploy."""
    async with workspace() as work:
        await work.users.set_role(BOB.user_id, Role.DEVELOPER, now=clock(), team="payments")
        await work.users.set_role(CAROL.user_id, Role.DEVELOPER, now=clock())
        await releases.create_release(
            work, actor=BOB, service="payments-api", version="v1", commit=None, notes=None, now=clock(), request_id="r"
        )
        await work.commit()
    return workspace


async def deploy_to_staging(uow: Callable[[], SqlUnitOfWork], clock: FrozenClock) -> None:
    async with uow() as work:
        await deployments.request_deployment(
            work, actor=BOB, service="payments-api", version="v1", environment="staging", now=clock(), request_id="d"
        )
        await work.commit()


async def lock(uow: Callable[[], SqlUnitOfWork], clock: FrozenClock, environment: str) -> None:
    async with uow() as work:
        await locks.lock_scope(
            work,
            actor=BOB,
            environment=environment,
            service=None,
            duration_s=None,
            reason="maintenance",
            now=clock(),
            request_id=f"lock-{environment}",
        )
        await work.commit()


def publishes(fake: FakeSlack) -> list[str]:
    return [str(call.args["user_id"]) for call in fake.calls_to("views.publish")]


async def test_several_changes_give_one_publish_per_viewer(
    viewers: Callable[[], SqlUnitOfWork], clock: FrozenClock, fake: FakeSlack
) -> None:
    refresher = refresher_for(viewers, clock, fake)
    for person in (BOB, CAROL):
        await refresher.publisher.publish(person.user_id, opened=True)
    fake.clear()
    clock.advance(seconds=30)
    await deploy_to_staging(viewers, clock)
    refresher.changed()
    clock.advance(seconds=1)
    await lock(viewers, clock, "staging")
    refresher.changed()
    clock.advance(seconds=1)
    await lock(viewers, clock, "production")
    refresher.changed()
    clock.advance(seconds=0.5)
    assert not refresher.schedule.take(clock())  # a later change does not postpone the first one's refresh
    clock.advance(seconds=0.5)
    assert refresher.schedule.take(clock())
    assert await refresher.refresh() == 2
    assert sorted(publishes(fake)) == [BOB.user_id, CAROL.user_id]
    home = fake.home_view(BOB.user_id)
    assert home is not None and ":lock: L-2 *production*: <@U0BOB00002> until unlocked: maintenance" in str(home)
    assert await refresher.refresh() == 0  # nothing changed since


async def test_a_person_gets_at_most_one_publish_per_interval(
    viewers: Callable[[], SqlUnitOfWork], clock: FrozenClock, fake: FakeSlack
) -> None:
    refresher = refresher_for(viewers, clock, fake)
    await refresher.publisher.publish(BOB.user_id, opened=True)
    fake.clear()
    clock.advance(seconds=4)  # 4 s after bob's publish: within his interval
    await lock(viewers, clock, "staging")
    refresher.changed()
    clock.advance(seconds=3)
    assert refresher.schedule.take(clock())
    assert await refresher.refresh() == 0
    assert refresher.schedule.due_at == clock() + timedelta(seconds=3)  # when his interval ends
    clock.advance(seconds=3)
    assert refresher.schedule.take(clock())
    assert await refresher.refresh() == 1
    assert publishes(fake) == [BOB.user_id]


async def test_only_people_who_opened_home_lately_are_refreshed(
    viewers: Callable[[], SqlUnitOfWork], clock: FrozenClock, fake: FakeSlack
) -> None:
    refresher = refresher_for(viewers, clock, fake)
    await refresher.publisher.publish(CAROL.user_id, opened=True)
    clock.advance(hours=25)
    await refresher.publisher.publish(BOB.user_id, opened=True)
    fake.clear()
    clock.advance(minutes=1)
    await lock(viewers, clock, "staging")
    assert await refresher.refresh() == 1
    assert publishes(fake) == [BOB.user_id]


async def test_two_replicas_refreshing_at_once_publish_each_change_once(
    viewers: Callable[[], SqlUnitOfWork], clock: FrozenClock, fake: FakeSlack
) -> None:
    first, second = refresher_for(viewers, clock, fake), refresher_for(viewers, clock, fake)
    for person in (BOB, CAROL):
        await first.publisher.publish(person.user_id, opened=True)
    fake.clear()
    clock.advance(minutes=1)
    await lock(viewers, clock, "production")
    counts = await asyncio.gather(first.refresh(), second.refresh())
    assert sum(counts) == 2
    assert sorted(publishes(fake)) == [BOB.user_id, CAROL.user_id]


async def test_a_rate_limited_publish_is_tried_again_after_retry_after(
    viewers: Callable[[], SqlUnitOfWork], clock: FrozenClock, fake: FakeSlack
) -> None:
    refresher = refresher_for(viewers, clock, fake)
    await refresher.publisher.publish(BOB.user_id, opened=True)
    clock.advance(minutes=1)
    await lock(viewers, clock, "staging")
    fake.fail_next("views.publish", status=429, retry_after=30)
    assert await refresher.refresh() == 0
    assert refresher.schedule.due_at == clock() + timedelta(seconds=30)
    clock.advance(seconds=30)
    assert refresher.schedule.take(clock())
    assert await refresher.refresh() == 1


async def test_a_refused_publish_waits_for_the_next_change(
    viewers: Callable[[], SqlUnitOfWork], clock: FrozenClock, fake: FakeSlack
) -> None:
    refresher = refresher_for(viewers, clock, fake)
    await refresher.publisher.publish(BOB.user_id, opened=True)
    clock.advance(minutes=1)
    await lock(viewers, clock, "staging")
    fake.fail_next("views.publish", error="not_enabled")
    assert await refresher.refresh() == 0
    clock.advance(minutes=1)
    assert await refresher.refresh() == 0  # the same content is not tried again
    await lock(viewers, clock, "production")
    assert await refresher.refresh() == 1


async def test_the_environment_matrix_shows_the_newest_deployment_when_it_failed(
    viewers: Callable[[], SqlUnitOfWork], clock: FrozenClock, fake: FakeSlack
) -> None:
    refresher = refresher_for(viewers, clock, fake)
    await deploy_to_staging(viewers, clock)
    async with viewers() as work:
        moved = await work.deployments.transition(
            1, from_statuses=[DeploymentStatus.SUCCESS], to_status=DeploymentStatus.FAILED
        )
        await work.commit()
    assert moved
    await refresher.publisher.publish(BOB.user_id, opened=True)
    home = fake.home_view(BOB.user_id)
    assert home is not None
    cell = next(f["text"] for b in home["blocks"] for f in b.get("fields", []) if f["text"].startswith("*staging*"))
    assert cell.startswith("*staging*\nnothing deployed\n:x: D-1 `v1` failed <!date^")

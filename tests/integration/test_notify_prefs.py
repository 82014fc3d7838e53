"""Notification preferences on both databases: who may set them, what they withhold, the approval-request DM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config_file import load_config
from core import deployments, notify_prefs, pipeline, releases
from core.config_apply import apply_configuration
from core.errors import PermissionDenied
from core.model import (
    Actor,
    DeploymentStatus,
    Notification,
    NotifyLevel,
    Role,
    StageSpec,
    StageStatus,
)
from storage.rows import AuditRow, OutboxRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import ADMIN, FrozenClock

BOB = Actor(user_id="U0BOB00002", role=Role.DEVELOPER)
CAROL = Actor(user_id="U0CAROL003", role=Role.DEVELOPER)
DAVE = Actor(user_id="U0DAVE0004", role=Role.ANALYST)
CHANNEL = "C0PAYMENTS1"

Uow = Callable[[], SqlUnitOfWork]


@pytest.fixture
async def people(workspace: Uow, clock: FrozenClock) -> Uow:
    async with workspace() as work:
        await work.users.set_role(BOB.user_id, Role.DEVELOPER, now=clock(), team="payments")
        await work.users.set_role(CAROL.user_id, Role.DEVELOPER, now=clock())
        await work.users.set_role(DAVE.user_id, Role.ANALYST, now=clock(), team="payments")
        await releases.create_release(
            work, actor=BOB, service="payments-api", version="v1", commit=None, notes=None, now=clock(), request_id="r"
        )
        await work.commit()
    return workspace


async def set_level(uow: Uow, clock: FrozenClock, level: NotifyLevel, actor: Actor = ADMIN) -> None:
    async with uow() as work:
        await notify_prefs.set_service_level(
            work, actor=actor, service="payments-api", level=level, now=clock(), request_id="level"
        )
        await work.commit()


async def deploy(uow: Uow, clock: FrozenClock, environment: str, *, approvals: int = 0) -> int:
    async with uow() as work:
        env = await work.environments.get(environment)
        assert env is not None
        env.policy.approvals = approvals
        await work.environments.upsert(env, now=clock())
        outcome = await deployments.request_deployment(
            work, actor=BOB, service="payments-api", version="v1", environment=environment, now=clock(), request_id=None
        )
        await work.commit()
    assert outcome.deployment.id is not None
    return outcome.deployment.id


async def decision(uow: Uow, notification: Notification) -> str | None:
    async with uow() as work:
        return await notify_prefs.withheld(work, notification)


def card(deployment_id: int) -> Notification:
    return Notification(
        kind=deployments.STATUS_KIND,
        channel=CHANNEL,
        data={"deployment_id": deployment_id},
        message_key=f"deployment:{deployment_id}",
    )


async def set_status(uow: Uow, deployment_id: int, status: DeploymentStatus) -> None:
    async with uow() as work:
        current = await work.deployments.get(deployment_id)
        assert current is not None
        await work.deployments.transition(deployment_id, from_statuses=[current.status], to_status=status)
        await work.commit()


@pytest.mark.parametrize(
    ("level", "status", "sent"),
    [
        (NotifyLevel.EVERYTHING, DeploymentStatus.SUCCESS, True),
        (NotifyLevel.APPROVALS_AND_FAILURES, DeploymentStatus.PENDING_APPROVAL, True),
        (NotifyLevel.APPROVALS_AND_FAILURES, DeploymentStatus.FAILED, True),
        (NotifyLevel.APPROVALS_AND_FAILURES, DeploymentStatus.RUNNING, False),
        (NotifyLevel.APPROVALS_AND_FAILURES, DeploymentStatus.SUCCESS, False),
        (NotifyLevel.DIGEST_ONLY, DeploymentStatus.PENDING_APPROVAL, False),
        (NotifyLevel.DIGEST_ONLY, DeploymentStatus.FAILED, False),
    ],
)
async def test_the_level_decides_whether_a_deployment_card_is_posted(
    people: Uow, clock: FrozenClock, level: NotifyLevel, status: DeploymentStatus, sent: bool
) -> None:
    await set_level(people, clock, level)
    deployment_id = await deploy(people, clock, "production", approvals=1)
    if status is not DeploymentStatus.PENDING_APPROVAL:
        await set_status(people, deployment_id, status)
    reason = await decision(people, card(deployment_id))
    assert reason == (None if sent else f"channel notifications: {level.value}")


async def test_a_card_already_posted_is_always_updated(people: Uow, clock: FrozenClock) -> None:
    deployment_id = await deploy(people, clock, "production", approvals=1)
    async with people() as work:
        await work.outbox.remember_message(f"deployment:{deployment_id}", channel=CHANNEL, ts="1.2", now=clock())
        await work.commit()
    await set_level(people, clock, NotifyLevel.DIGEST_ONLY)
    await set_status(people, deployment_id, DeploymentStatus.REJECTED)
    assert await decision(people, card(deployment_id)) is None


async def test_only_the_failing_stage_output_is_posted_at_approvals_and_failures(
    people: Uow, clock: FrozenClock
) -> None:
    async with people() as work:
        env = await work.environments.get("staging")
        assert env is not None
        env.stages = [StageSpec(name="build"), StageSpec(name="deploy")]
        await work.environments.upsert(env, now=clock())
        await work.commit()
    await set_level(people, clock, NotifyLevel.APPROVALS_AND_FAILURES)
    deployment_id = await deploy(people, clock, "staging")
    async with people() as work:
        for position, status in ((0, StageStatus.SUCCESS), (1, StageStatus.FAILED)):
            await work.stages.start(deployment_id, position, runner="r", attempt="a", now=clock(), deadline=clock())
            await work.stages.finish(
                deployment_id, position, status=status, now=clock(), exit_code=None, reason=None, output=None
            )
        await work.commit()

    def output(position: int) -> Notification:
        return Notification(
            kind=pipeline.OUTPUT_KIND,
            channel=CHANNEL,
            data={"deployment_id": deployment_id, "position": position},
            thread_key=f"deployment:{deployment_id}",
        )

    assert await decision(people, output(0)) == "channel notifications: approvals-and-failures"
    assert await decision(people, output(1)) is None
    await set_level(people, clock, NotifyLevel.DIGEST_ONLY)
    assert await decision(people, output(1)) == "channel notifications: digest-only"


async def test_incidents_and_the_digest_follow_the_level(people: Uow, clock: FrozenClock) -> None:
    incident = Notification(kind="incident.notice", channel=CHANNEL, data={"service": "payments-api"})
    digest = Notification(kind="digest.weekly", channel=CHANNEL, data={})
    lock = Notification(kind="lock.notice", channel=CHANNEL, data={})
    await set_level(people, clock, NotifyLevel.APPROVALS_AND_FAILURES)
    assert [await decision(people, n) for n in (incident, digest, lock)] == [
        None,
        None,
        "channel notifications: approvals-and-failures",
    ]
    await set_level(people, clock, NotifyLevel.DIGEST_ONLY)
    assert [await decision(people, n) for n in (incident, digest)] == ["channel notifications: digest-only", None]


async def test_a_developer_of_another_team_or_an_analyst_cannot_set_the_level(people: Uow, clock: FrozenClock) -> None:
    for actor in (CAROL, DAVE):
        with pytest.raises(PermissionDenied):
            await set_level(people, clock, NotifyLevel.DIGEST_ONLY, actor=actor)
    await set_level(people, clock, NotifyLevel.DIGEST_ONLY, actor=BOB)
    async with people() as work:
        service = await work.services.get("payments-api")
        entries = (
            await work.session.execute(
                select(AuditRow.actor, AuditRow.target).where(AuditRow.action == "notify.service")
            )
        ).all()
    assert service is not None and service.notify_level is NotifyLevel.DIGEST_ONLY
    assert [tuple(entry) for entry in entries] == [(BOB.user_id, "service:payments-api")]


async def test_someone_unknown_who_sets_a_preference_is_stored_with_the_default_role(
    people: Uow, clock: FrozenClock
) -> None:
    stranger = Actor(user_id="U0STRANGER1", role=Role.ADMIN)  # an admin by configuration only
    async with people() as work:
        changed = await notify_prefs.set_my_pref(
            work,
            actor=stranger,
            pref=notify_prefs.APPROVAL_REQUESTS,
            on=True,
            role_if_new=Role.VIEWER,
            now=clock(),
            request_id="p",
        )
        again = await notify_prefs.set_my_pref(
            work,
            actor=stranger,
            pref=notify_prefs.APPROVAL_REQUESTS,
            on=True,
            role_if_new=Role.VIEWER,
            now=clock(),
            request_id="p2",
        )
        await work.commit()
    async with people() as work:
        user = await work.users.get(stranger.user_id)
    assert (changed, again) == (True, False)
    assert user is not None and user.role is Role.VIEWER and user.notify_prefs == {"approval-requests": True}


async def test_direct_messages_follow_the_recipients_preferences(people: Uow, clock: FrozenClock) -> None:
    deployment_id = await deploy(people, clock, "production", approvals=1)
    outcome = Notification(kind=deployments.OUTCOME_KIND, channel=BOB.user_id, data={})
    request = Notification(
        kind=notify_prefs.APPROVAL_REQUEST_KIND, channel=CAROL.user_id, data={"deployment_id": deployment_id}
    )
    assert await decision(people, outcome) is None  # deploy-finished is on by default
    assert await decision(people, request) == "approval-requests turned off"
    async with people() as work:
        for actor, pref, on in (
            (BOB, notify_prefs.DEPLOY_FINISHED, False),
            (CAROL, notify_prefs.APPROVAL_REQUESTS, True),
        ):
            await notify_prefs.set_my_pref(
                work, actor=actor, pref=pref, on=on, role_if_new=Role.VIEWER, now=clock(), request_id=None
            )
        await work.commit()
    assert await decision(people, outcome) == "deploy-finished turned off"
    assert await decision(people, request) is None
    await set_status(people, deployment_id, DeploymentStatus.REJECTED)
    assert await decision(people, request) == "decided before the request was sent"


async def test_approvers_who_asked_get_a_request_and_the_requester_does_not(people: Uow, clock: FrozenClock) -> None:
    async with people() as work:
        for actor in (BOB, CAROL, DAVE):
            await notify_prefs.set_my_pref(
                work,
                actor=actor,
                pref=notify_prefs.APPROVAL_REQUESTS,
                on=True,
                role_if_new=Role.VIEWER,
                now=clock(),
                request_id=None,
            )
        await work.commit()
    deployment_id = await deploy(people, clock, "production", approvals=1)
    await deploy(people, clock, "staging")  # no approval: nobody is asked
    async with people() as work:
        query = select(OutboxRow.channel, OutboxRow.data).where(OutboxRow.kind == notify_prefs.APPROVAL_REQUEST_KIND)
        asked = [tuple(row) for row in (await work.session.execute(query)).all()]
    # bob requested it; dave, an analyst, may not approve
    assert asked == [(CAROL.user_id, {"deployment_id": deployment_id, "reference": f"D-{deployment_id}"})]


async def test_the_configuration_file_sets_the_level_and_leaving_it_out_keeps_it(
    people: Uow, clock: FrozenClock, tmp_path: Path
) -> None:
    base = (
        "teams:\n  - name: payments\n    channel: C0PAYMENTS1\n"
        "services:\n  - name: payments-api\n    team: payments\n    channel: C0PAYMENTS1\n"
    )
    for text, expected in (
        (base + "    notify: approvals-and-failures\n", NotifyLevel.APPROVALS_AND_FAILURES),
        (base, NotifyLevel.APPROVALS_AND_FAILURES),
        (base + "    notify: everything\n", NotifyLevel.EVERYTHING),
    ):
        path = tmp_path / "releasebot.yml"
        path.write_text(text, encoding="utf-8")
        async with people() as work:
            await apply_configuration(work, actor=ADMIN, declaration=load_config(path), now=clock(), request_id="c")
            await work.commit()
        async with people() as work:
            service = await work.services.get("payments-api")
        assert service is not None and service.notify_level is expected

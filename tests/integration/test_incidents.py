"""Incidents attributed to production deployments, on both databases: one per deployment, resolved once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from core import deployments, incidents, releases
from core.errors import Conflict, NotFound
from core.text import slack_date
from storage.rows import AuditRow, IncidentRow, OutboxRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import DEV, FrozenClock

Uow = Callable[[], SqlUnitOfWork]


async def ship(uow: Uow, clock: FrozenClock, environment: str = "production") -> int:
    async with uow() as work:
        if await work.releases.get("payments-api", "v1") is None:
            await releases.create_release(
                work,
                actor=DEV,
                service="payments-api",
                version="v1",
                commit=None,
                notes=None,
                now=clock(),
                request_id=None,
            )
        outcome = await deployments.request_deployment(
            work,
            actor=DEV,
            service="payments-api",
            version="v1",
            environment=environment,
            now=clock(),
            request_id=None,
        )
        await work.commit()
    assert outcome.deployment.id is not None
    return outcome.deployment.id


async def open_incident(uow: Uow, clock: FrozenClock, deployment_id: int, note: str | None = None) -> None:
    async with uow() as work:
        await incidents.open_incident(
            work, actor=DEV, deployment_id=deployment_id, note=note, now=clock(), request_id=None
        )
        await work.commit()


async def resolve(uow: Uow, clock: FrozenClock, deployment_id: int) -> None:
    async with uow() as work:
        await incidents.resolve_incident(work, actor=DEV, deployment_id=deployment_id, now=clock(), request_id=None)
        await work.commit()


async def test_an_incident_is_opened_once_and_resolved_once(workspace: Uow, clock: FrozenClock) -> None:
    deployment_id = await ship(workspace, clock)
    opened = clock()
    await open_incident(workspace, clock, deployment_id, note="checkout <!here> errors")
    with pytest.raises(Conflict) as caught:
        await open_incident(workspace, clock, deployment_id, note="again")
    assert caught.value.render() == (
        f"D-1 already has an incident, opened by <@{DEV.user_id}> on {slack_date(opened)}, still open: checkout "
        "&lt;!here&gt; errors.\nOne incident per deployment. `/release incident resolve D-1` resolves it."
    )
    clock.advance(minutes=90)
    await resolve(workspace, clock, deployment_id)
    with pytest.raises(Conflict) as again:
        await resolve(workspace, clock, deployment_id)
    assert again.value.render() == (
        f"The incident on D-1 was already resolved by <@{DEV.user_id}> on {slack_date(clock())}."
    )
    async with workspace() as work:
        row = (await work.session.execute(select(IncidentRow))).scalar_one()
        assert (row.opened_at, row.resolved_at, row.opened_by, row.resolved_by, row.note) == (
            opened,
            clock(),
            DEV.user_id,
            DEV.user_id,
            "checkout <!here> errors",
        )
        actions = (
            await work.session.execute(select(AuditRow.action).where(AuditRow.action.like("incident.%")))
        ).scalars()
        assert list(actions) == ["incident.open", "incident.resolve"]
        notices = (
            await work.session.execute(
                select(OutboxRow.channel, OutboxRow.data).where(OutboxRow.kind == "incident.notice")
            )
        ).all()
        assert [(channel, data["event"], data.get("restored_s")) for channel, data in notices] == [
            ("C0PAYMENTS1", "opened", None),
            ("C0PAYMENTS1", "resolved", 5400),
        ]


async def test_an_incident_is_not_resolved_before_it_was_opened(workspace: Uow, clock: FrozenClock) -> None:
    deployment_id = await ship(workspace, clock)
    opened = clock()
    await open_incident(workspace, clock, deployment_id)
    clock.advance(minutes=-5)
    with pytest.raises(Conflict) as caught:
        await resolve(workspace, clock, deployment_id)
    assert caught.value.message == (
        f"The incident on D-1 was opened on {slack_date(opened)}: it can't be resolved before that."
    )


async def test_incidents_belong_to_successful_production_deployments(workspace: Uow, clock: FrozenClock) -> None:
    staging = await ship(workspace, clock, "staging")
    with pytest.raises(Conflict, match=r"^D-1 went to staging, which is not production"):
        await open_incident(workspace, clock, staging)
    with pytest.raises(NotFound) as missing:
        await resolve(workspace, clock, staging)
    assert missing.value.render() == "D-1 has no incident.\n`/release incident D-1 [note]` attributes one to it."
    with pytest.raises(NotFound, match=r"^There is no deployment D-9\."):
        await open_incident(workspace, clock, 9)

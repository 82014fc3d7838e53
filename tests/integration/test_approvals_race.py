"""Exactly once under concurrency: approvers at the same instant, on one replica and on two."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import func, select

from core import approvals, deployments, policies, releases
from core.errors import Conflict
from core.model import Actor, Role
from storage.engine import create_engine, session_factory
from storage.rows import ApprovalRow, AuditRow, DeploymentRow, OutboxRow
from storage.uow import SqlUnitOfWork, unit_of_work_factory
from tests.integration.conftest import ADMIN, DEV, FrozenClock

Uow = Callable[[], SqlUnitOfWork]
APPROVERS = [Actor(user_id=f"U0APPROVER{n}", role=Role.DEVELOPER) for n in range(4)]


async def _pending(uow: Uow, clock: FrozenClock, approvals_needed: int) -> int:
    async with uow() as work:
        await policies.set_policy(
            work,
            actor=ADMIN,
            environment="production",
            approvals=approvals_needed,
            approvers=None,
            expire_s=None,
            requires_env=None,
            self_approval=None,
            now=clock(),
            request_id="p",
        )
        await releases.create_release(
            work,
            actor=DEV,
            service="payments-api",
            version="v1",
            commit=None,
            notes=None,
            now=clock(),
            request_id="r",
        )
        outcome = await deployments.request_deployment(
            work,
            actor=DEV,
            service="payments-api",
            version="v1",
            environment="production",
            now=clock(),
            request_id="d",
        )
        await work.commit()
    assert outcome.deployment.id is not None
    return outcome.deployment.id


async def _approve(uow: Uow, clock: FrozenClock, actor: Actor, deployment_id: int) -> str:
    try:
        async with uow() as work:
            await approvals.approve(work, actor=actor, deployment_id=deployment_id, now=clock(), request_id=None)
            await asyncio.sleep(0.02)  # widen the window between the check and the commit
            await work.commit()
    except Conflict as error:
        return error.message
    return "approved"


async def _counts(uow: Uow) -> tuple[int, int, int, str]:
    async with uow() as work:
        session = work.session
        approvals_count = (await session.execute(select(func.count(ApprovalRow.id)))).scalar_one()
        started = (
            await session.execute(select(func.count(AuditRow.id)).where(AuditRow.action == "deployment.approved"))
        ).scalar_one()
        updates = await session.execute(select(func.count(OutboxRow.id)).where(OutboxRow.kind == "deployment.status"))
        status = (await session.execute(select(DeploymentRow.status))).scalar_one()
        return approvals_count, started, updates.scalar_one(), status


async def test_three_approvers_at_once_start_the_deployment_exactly_once(workspace: Uow, clock: FrozenClock) -> None:
    deployment_id = await _pending(workspace, clock, approvals_needed=2)
    results = await asyncio.gather(*(_approve(workspace, clock, a, deployment_id) for a in APPROVERS[:3]))
    approved, started, _, status = await _counts(workspace)
    assert status == "success"
    assert started == 1
    assert approved == results.count("approved") >= 2


async def test_the_same_person_twice_at_once_gives_one_approval(workspace: Uow, clock: FrozenClock) -> None:
    deployment_id = await _pending(workspace, clock, approvals_needed=2)
    results = await asyncio.gather(*(_approve(workspace, clock, APPROVERS[0], deployment_id) for _ in range(2)))
    approved, started, updates, status = await _counts(workspace)
    assert sorted(results) == ["You already approved D-1.", "approved"]
    assert (approved, started, status) == (1, 0, "pending_approval")
    assert updates == 2  # the request and the one decision


async def test_two_replicas_on_one_database_start_it_once(
    database_url: str, workspace: Uow, clock: FrozenClock
) -> None:
    deployment_id = await _pending(workspace, clock, approvals_needed=1)
    other_engine = create_engine(database_url, pool_size=5)
    try:
        other: Uow = unit_of_work_factory(session_factory(other_engine), clock)
        results = await asyncio.gather(
            _approve(workspace, clock, APPROVERS[0], deployment_id), _approve(other, clock, APPROVERS[1], deployment_id)
        )
    finally:
        await other_engine.dispose()
    _, started, _, status = await _counts(workspace)
    assert status == "success" and started == 1
    assert "approved" in results

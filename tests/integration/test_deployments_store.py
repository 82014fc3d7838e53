"""Use cases against the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from core import deployments, releases
from core.errors import Conflict, DuplicateRequest, NotFound, PermissionDenied
from core.model import Deployment, DeploymentStatus
from storage.audit import verify_chain
from storage.rows import AuditRow, DeploymentRow, OutboxRow, ReleaseRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import DEV, VIEWER, FrozenClock

Uow = Callable[[], SqlUnitOfWork]


async def _count(uow: Uow, column: object) -> int:
    async with uow() as work:
        return int((await work.session.execute(select(func.count(column)))).scalar_one())


async def _create(uow: Uow, clock: FrozenClock, version: str = "v1.0.0") -> None:
    async with uow() as work:
        await releases.create_release(
            work,
            actor=DEV,
            service="payments-api",
            version=version,
            commit="abc1234",
            notes=None,
            now=clock(),
            request_id=f"create-{version}",
        )
        await work.commit()


async def test_deployment_and_its_notification_commit_together(workspace: Uow, clock: FrozenClock) -> None:
    await _create(workspace, clock)
    async with workspace() as work:
        outcome = await deployments.request_deployment(
            work,
            actor=DEV,
            service="payments-api",
            version="v1.0.0",
            environment="staging",
            now=clock(),
            request_id="t1",
        )
        await work.commit()
    assert outcome.deployment.status is DeploymentStatus.SUCCESS
    async with workspace() as work:
        outbox = [(o.kind, o.channel, o.message_key) for o in (await work.session.execute(select(OutboxRow))).scalars()]
        stored = await work.deployments.get(outcome.deployment.id or 0)
    assert stored is not None and stored.status is DeploymentStatus.SUCCESS
    assert stored.finished_at == clock()
    assert outbox == [("deployment.status", "C0PAYMENTS1", f"deployment:{outcome.deployment.id}")]


async def test_a_failed_use_case_leaves_nothing_behind(workspace: Uow, clock: FrozenClock) -> None:
    before = await _count(workspace, AuditRow.id)
    async with workspace() as work:
        with pytest.raises(NotFound, match="has no release `v9`"):
            await deployments.request_deployment(
                work,
                actor=DEV,
                service="payments-api",
                version="v9",
                environment="staging",
                now=clock(),
                request_id="t2",
            )
    assert await _count(workspace, DeploymentRow.id) == 0
    assert await _count(workspace, OutboxRow.id) == 0
    assert await _count(workspace, AuditRow.id) == before


async def test_duplicate_version_is_refused_with_the_existing_reference(workspace: Uow, clock: FrozenClock) -> None:
    await _create(workspace, clock)
    async with workspace() as work:
        with pytest.raises(Conflict, match=r"already exists \(R-1, created by <@U0DEV00001>\)"):
            await releases.create_release(
                work,
                actor=DEV,
                service="payments-api",
                version="v1.0.0",
                commit=None,
                notes=None,
                now=clock(),
                request_id="dup",
            )
    assert await _count(workspace, ReleaseRow.id) == 1


async def test_viewer_cannot_create_a_release(workspace: Uow, clock: FrozenClock) -> None:
    async with workspace() as work:
        with pytest.raises(PermissionDenied, match="You can't create releases: your role is viewer"):
            await releases.create_release(
                work,
                actor=VIEWER,
                service="payments-api",
                version="v1",
                commit=None,
                notes=None,
                now=clock(),
                request_id="v",
            )


async def test_the_same_request_is_handled_once(workspace: Uow, clock: FrozenClock) -> None:
    async with workspace() as work:
        await work.requests.claim("slack:trigger-1", now=clock())
        await work.commit()
    async with workspace() as work:
        with pytest.raises(DuplicateRequest):
            await work.requests.claim("slack:trigger-1", now=clock())


async def test_database_allows_one_active_deployment_per_service_and_environment(
    workspace: Uow, clock: FrozenClock
) -> None:
    await _create(workspace, clock)

    async def insert_active(key: str) -> str:
        async with workspace() as work:
            release = await work.releases.get("payments-api", "v1.0.0")
            assert release is not None
            try:
                await work.deployments.add(
                    Deployment(
                        service="payments-api",
                        version="v1.0.0",
                        environment="production",
                        status=DeploymentStatus.QUEUED,
                        requested_by=DEV.user_id,
                        requested_at=clock(),
                        release_id=release.id,
                        idempotency_key=key,
                    )
                )
                await asyncio.sleep(0.05)
                await work.commit()
            except Conflict:
                return "conflict"
            except Exception as error:  # the loser of a commit-time race on PostgreSQL
                return type(error).__name__
        return "inserted"

    results = await asyncio.gather(insert_active("a"), insert_active("b"))
    assert sorted(results).count("inserted") == 1
    async with workspace() as work:
        active = await work.deployments.active_list("payments-api")
    assert len(active) == 1


async def test_audit_chain_verifies_after_use_cases(workspace: Uow, clock: FrozenClock) -> None:
    await _create(workspace, clock, "v1")
    await _create(workspace, clock, "v2")
    async with workspace() as work:
        check = await verify_chain(work.session)
    assert check.broken_id is None and check.checked >= 6


async def test_current_version_is_the_latest_success(workspace: Uow, clock: FrozenClock) -> None:
    for version in ("v1", "v2"):
        await _create(workspace, clock, version)
        async with workspace() as work:
            await deployments.request_deployment(
                work,
                actor=DEV,
                service="payments-api",
                version=version,
                environment="staging",
                now=clock(),
                request_id=f"d-{version}",
            )
            await work.commit()
        clock.advance(minutes=5)
    async with workspace() as work:
        current = await work.deployments.current_versions("payments-api")
    assert [(d.environment, d.version) for d in current] == [("staging", "v2")]

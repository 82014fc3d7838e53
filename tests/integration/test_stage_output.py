"""A stage's stored output (up to a megabyte) is read only when asked for, and is whole whenever it is."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from core import deployments, pipeline, releases
from core.model import StageSpec, StageStatus
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import DEV, FrozenClock

Uow = Callable[[], SqlUnitOfWork]
BIG = "x" * 200_000 + "\n"


async def finished_with_output(uow: Uow, clock: FrozenClock) -> int:
    """D-1 to staging, its one stage started and finished with BIG as its output."""
    async with uow() as work:
        staging = await work.environments.get("staging")
        assert staging is not None
        staging.stages = [StageSpec(name="deploy", command=[sys.executable, "-c", "pass"])]
        await work.environments.upsert(staging, now=clock())
        await releases.create_release(
            work, actor=DEV, service="payments-api", version="v1", commit=None, notes=None, now=clock(), request_id=None
        )
        outcome = await deployments.request_deployment(
            work, actor=DEV, service="payments-api", version="v1", environment="staging", now=clock(), request_id=None
        )
        await work.commit()
    deployment_id = outcome.deployment.id
    assert deployment_id is not None
    async with uow() as work:
        assert await work.stages.start(
            deployment_id, 0, runner="r", attempt="a", now=clock(), deadline=clock() + timedelta(minutes=5)
        )
        await work.commit()
    async with uow() as work:
        await pipeline.report_stage(
            work, deployment_id=deployment_id, position=0, status=StageStatus.SUCCESS, now=clock(), output=BIG
        )
        await work.commit()
    return deployment_id


async def test_stages_are_listed_without_their_output_unless_asked(
    workspace: Uow, clock: FrozenClock, migrated_engine: AsyncEngine
) -> None:
    deployment_id = await finished_with_output(workspace, clock)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(migrated_engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with workspace() as work:
            (plain,) = await work.stages.for_deployment(deployment_id)
            await work.stages.running()
    finally:
        event.remove(migrated_engine.sync_engine, "before_cursor_execute", seen)
    assert plain.output is None and plain.status is StageStatus.SUCCESS
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "deployment_stages" in s]
    assert len(selects) == 2 and not any("deployment_stages.output" in s for s in selects), selects
    async with workspace() as work:
        await work.stages.for_deployment(deployment_id)
        # Asked for in the same unit of work after a listing without it: read in full, not left out.
        (full,) = await work.stages.for_deployment(deployment_id, with_output=True)
        assert full.output == BIG


async def test_output_appended_after_a_listing_without_it_keeps_what_was_there(
    workspace: Uow, clock: FrozenClock
) -> None:
    deployment_id = await finished_with_output(workspace, clock)
    async with workspace() as work:
        await work.stages.for_deployment(deployment_id)
        await work.stages.running()
        await work.stages.append_output(deployment_id, 0, "more\n")
        await work.commit()
    async with workspace() as work:
        (stage,) = await work.stages.for_deployment(deployment_id, with_output=True)
    assert stage.output == BIG + "more\n"

"""Pipeline stages of deployments: every transition conditional, so one runner acts on a stage."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer

from core.model import DeploymentStatus, Stage, StageSpec, StageStatus
from storage.rows import DeploymentRow, DeploymentStageRow


def _spec(data: dict[str, object] | None) -> StageSpec | None:
    if not data:
        return None
    return StageSpec(
        name=str(data.get("name", "")),
        executor=str(data.get("executor", "command")),
        command=[str(part) for part in data.get("command") or []],  # type: ignore[attr-defined]
        url=data.get("url"),  # type: ignore[arg-type]
        timeout_s=int(data.get("timeout_s", 600)),  # type: ignore[call-overload]
    )


def _stage(row: DeploymentStageRow, with_output: bool) -> Stage:
    return Stage(
        deployment_id=row.deployment_id,
        position=row.position,
        name=row.name,
        executor=row.executor,
        status=StageStatus(row.status),
        timeout_s=row.timeout_s,
        spec=_spec(row.spec),
        started_at=row.started_at,
        finished_at=row.finished_at,
        deadline_at=row.deadline_at,
        heartbeat_at=row.heartbeat_at,
        exit_code=row.exit_code,
        reason=row.reason,
        runner=row.runner,
        attempt=row.attempt,
        output=row.output if with_output else None,
    )


@functools.cache
def _runnable(limit: int) -> Select[int, int]:
    """Pending stages of running deployments whose earlier stages all succeeded, oldest first. Built once: the
    runner asks before every claim, and building it (an alias of the table) cost more than running it."""
    earlier = aliased(DeploymentStageRow, name="earlier")
    return (
        select(DeploymentStageRow.deployment_id, DeploymentStageRow.position)
        .join(DeploymentRow, DeploymentRow.id == DeploymentStageRow.deployment_id)
        .where(
            DeploymentStageRow.status == StageStatus.PENDING.value,
            DeploymentRow.status == DeploymentStatus.RUNNING.value,
            DeploymentRow.cancel_requested.is_(False),
            ~exists().where(
                and_(
                    earlier.deployment_id == DeploymentStageRow.deployment_id,
                    earlier.position < DeploymentStageRow.position,
                    earlier.status != StageStatus.SUCCESS.value,
                )
            ),
        )
        .order_by(DeploymentStageRow.deployment_id, DeploymentStageRow.position)
        .limit(limit)
    )


class StageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, deployment_id: int, specs: Sequence[StageSpec]) -> None:
        for position, spec in enumerate(specs):
            self.session.add(
                DeploymentStageRow(
                    deployment_id=deployment_id,
                    position=position,
                    name=spec.name,
                    executor=spec.executor,
                    spec={
                        "name": spec.name,
                        "executor": spec.executor,
                        "command": list(spec.command),
                        "url": spec.url,
                        "timeout_s": spec.timeout_s,
                    },
                    status=StageStatus.PENDING.value,
                    timeout_s=spec.timeout_s,
                )
            )
        await self.session.flush()

    async def for_deployment(self, deployment_id: int, *, with_output: bool = False) -> Sequence[Stage]:
        query = select(DeploymentStageRow).where(DeploymentStageRow.deployment_id == deployment_id)
        if not with_output:  # up to a megabyte per stage: read it only when asked
            query = query.options(defer(DeploymentStageRow.output))
        rows = await self.session.execute(query.order_by(DeploymentStageRow.position))
        return [_stage(row, with_output) for row in rows.scalars()]

    async def runnable(self, *, limit: int) -> Sequence[tuple[int, int]]:
        return [(int(d), int(p)) for d, p in (await self.session.execute(_runnable(limit))).all()]

    async def _update(
        self, deployment_id: int, position: int, statuses: Sequence[StageStatus], **values: object
    ) -> bool:
        statement = (
            update(DeploymentStageRow)
            .where(
                DeploymentStageRow.deployment_id == deployment_id,
                DeploymentStageRow.position == position,
                DeploymentStageRow.status.in_([s.value for s in statuses]),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def start(
        self, deployment_id: int, position: int, *, runner: str, attempt: str, now: datetime, deadline: datetime
    ) -> bool:
        return await self._update(
            deployment_id,
            position,
            [StageStatus.PENDING],
            status=StageStatus.RUNNING.value,
            runner=runner,
            attempt=attempt,
            started_at=now,
            deadline_at=deadline,
            heartbeat_at=now,
        )

    async def finish(
        self,
        deployment_id: int,
        position: int,
        *,
        status: StageStatus,
        now: datetime,
        exit_code: int | None,
        reason: str | None,
        output: str | None,
    ) -> bool:
        values: dict[str, object] = {
            "status": status.value,
            "finished_at": now,
            "exit_code": exit_code,
            "reason": reason,
        }
        if output is not None:
            values["output"] = output
        return await self._update(deployment_id, position, [StageStatus.RUNNING], **values)

    async def append_output(self, deployment_id: int, position: int, output: str) -> None:
        row = (
            await self.session.execute(
                select(DeploymentStageRow).where(
                    DeploymentStageRow.deployment_id == deployment_id, DeploymentStageRow.position == position
                )
            )
        ).scalar_one_or_none()
        if row is not None:
            row.output = ((row.output or "") + output)[-1_000_000:]

    async def heartbeat(self, runner: str, *, now: datetime) -> int:
        result = await self.session.execute(
            update(DeploymentStageRow)
            .where(DeploymentStageRow.runner == runner, DeploymentStageRow.status == StageStatus.RUNNING.value)
            .values(heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    async def running(self) -> Sequence[Stage]:
        rows = await self.session.execute(
            select(DeploymentStageRow)
            .where(DeploymentStageRow.status == StageStatus.RUNNING.value)
            .options(defer(DeploymentStageRow.output))
        )
        return [_stage(row, False) for row in rows.scalars()]

    async def skip_pending(self, deployment_id: int) -> int:
        result = await self.session.execute(
            update(DeploymentStageRow)
            .where(
                DeploymentStageRow.deployment_id == deployment_id,
                DeploymentStageRow.status == StageStatus.PENDING.value,
            )
            .values(status=StageStatus.SKIPPED.value)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

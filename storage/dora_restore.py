"""S4 in SQL: failure episodes, their restore times, and those still open at the window's end.

Only the failures that can matter are read. For each service, ``since`` is the finish of its last production
success before the window: a failure that started before it was restored by then. A failure's restoring
deployment is its service's first production success finishing strictly after the failure started (a
correlated MIN on ``(service, environment, finished_at)``); the failures sharing a restore time share a
restoring deployment, so they are one episode (never-restored failures of a service share the NULL one),
and the episode belongs to its earliest failure's team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.dora import MetricInputs, ScopeKind, Window
from core.model import DeploymentStatus
from storage.rows import DeploymentRow, IncidentRow, ServiceRow

SUCCESS = DeploymentStatus.SUCCESS.value
FAILURES = (DeploymentStatus.FAILED.value, DeploymentStatus.ROLLED_BACK.value)


@dataclass(frozen=True)
class Scoped:
    """A scope resolved to its row id."""

    kind: ScopeKind
    id: int | None = None

    def on(self, team_id: Any, service_id: Any) -> ColumnElement[bool]:
        """The condition a deployment with this recorded team and service meets to be in scope."""
        if self.kind is ScopeKind.ORG:
            return true()
        return (team_id if self.kind is ScopeKind.TEAM else service_id) == self.id  # type: ignore[no-any-return]


def episodes_query(production: list[int], scoped: Scoped, window: Window) -> Select[Any]:
    """One row per episode whose restore time is missing or not before the window's start: the earliest
    failure's start, the restore time (NULL: never restored), in scope by its earliest failure."""
    d, i, s = DeploymentRow, IncidentRow, ServiceRow
    since = _since(production, scoped, window)
    # Any lower bound is exact (failures restored before the window make episodes that are dropped later);
    # this one lets the failures be read by the (environment, finished_at) index.
    bound = select(func.min(since.c.since)).scalar_subquery()
    failed_columns = (d.id, d.service_id, d.team_id, d.finished_at, d.started_at, d.finished_at.label("began"))
    failed_since = (
        select(*failed_columns)
        .join(since, since.c.service_id == d.service_id)
        .where(
            d.environment_id.in_(production),
            d.status.in_(FAILURES),
            d.finished_at >= bound,
            d.finished_at >= since.c.since,
            d.finished_at < window.end,
        )
    )
    failed_ever = (  # services with no success before the window: all their failures
        select(*failed_columns)
        .join(since, since.c.service_id == d.service_id)
        .where(
            since.c.since.is_(None),
            d.environment_id.in_(production),
            d.status.in_(FAILURES),
            d.finished_at < window.end,
        )
    )
    began = case((i.opened_at > d.finished_at, i.opened_at), else_=d.finished_at)
    with_incident = (
        select(d.id, d.service_id, d.team_id, d.finished_at, d.started_at, began.label("began"))
        .select_from(i)
        .join(d, d.id == i.deployment_id)
        .join(since, since.c.service_id == d.service_id)
        .where(
            d.environment_id.in_(production),
            d.status == SUCCESS,
            d.finished_at.is_not(None),
            began < window.end,
            or_(since.c.since.is_(None), began >= since.c.since),
        )
    )
    failures = union_all(failed_since, failed_ever, with_incident).cte("failures")
    following = aliased(DeploymentRow)
    restored_at = (
        select(func.min(following.finished_at))
        .where(
            following.service_id == failures.c.service_id,
            following.environment_id.in_(production),
            following.status == SUCCESS,
            following.finished_at > failures.c.began,
        )
        .scalar_subquery()
    )
    restored = select(failures, restored_at.label("restored_at")).subquery("restored")
    rank = (
        func.row_number()
        .over(
            partition_by=(restored.c.service_id, restored.c.restored_at),
            order_by=(
                restored.c.began,
                restored.c.finished_at,
                restored.c.started_at.asc().nulls_last(),
                restored.c.id,
            ),
        )
        .label("rank")
    )
    ranked = select(restored, rank).subquery("ranked")
    return select(ranked.c.began, ranked.c.restored_at).where(
        ranked.c.rank == 1, scoped.on(ranked.c.team_id, ranked.c.service_id)
    )


def _since(production: list[int], scoped: Scoped, window: Window) -> Any:
    """Per service that can have an episode in scope: the finish of its last production success before the
    window (NULL: none). A team's episodes can only be on services it deployed to production."""
    s, last = ServiceRow, aliased(DeploymentRow)
    before = (
        select(func.max(last.finished_at))
        .where(
            last.service_id == s.id,
            last.environment_id.in_(production),
            last.status == SUCCESS,
            last.finished_at < window.start,
        )
        .scalar_subquery()
    )
    services = select(s.id.label("service_id"), before.label("since"))
    if scoped.kind is ScopeKind.SERVICE:
        services = services.where(s.id == scoped.id)
    elif scoped.kind is ScopeKind.TEAM:
        deployed = aliased(DeploymentRow)
        services = services.where(
            s.id.in_(
                select(deployed.service_id).where(
                    deployed.team_id == scoped.id, deployed.environment_id.in_(production)
                )
            )
        )
    return services.cte("since")


async def restore_episodes(session: AsyncSession, query: Select[Any], inputs: MetricInputs, window: Window) -> None:
    for began, restored_at in await session.execute(query):
        began_at: datetime = began
        if restored_at is not None and window.start <= restored_at < window.end:
            inputs.restore_samples.append((restored_at - began_at).total_seconds())
        if began_at < window.end and (restored_at is None or restored_at >= window.end):
            inputs.open_failures_at_window_end += 1
            if inputs.oldest_open_failure_start is None or began_at < inputs.oldest_open_failure_start:
                inputs.oldest_open_failure_start = began_at

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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.dora import MetricInputs, ScopeKind, Window
from core.model import DeploymentStatus
from storage.rows import DeploymentRow, IncidentRow, ServiceRow

SUCCESS = DeploymentStatus.SUCCESS.value
FAILURES = (DeploymentStatus.FAILED.value, DeploymentStatus.ROLLED_BACK.value)
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)  # before any recorded instant


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


def in_production(column: Any, production: list[int], *, dialect: str, probe: bool = False) -> ColumnElement[bool]:
    """``column IN production``. In a probe (a correlated lookup reached through another index), SQLite
    must not use the environment index instead: without statistics it would, and read every production
    deployment per probe; ``column + 0`` is the usual way to tell it so (PostgreSQL plans by statistics)."""
    target: Any = column + 0 if probe and dialect == "sqlite" else column
    condition: ColumnElement[bool] = target.in_(production)
    return condition


def episodes_query(production: list[int], scoped: Scoped, window: Window, dialect: str) -> Select[Any]:
    """One row per episode whose restore time is missing or not before the window's start: the earliest
    failure's start, the restore time (NULL: never restored), in scope by its earliest failure."""
    d, i = DeploymentRow, IncidentRow
    since = _since(production, scoped, window)
    # Any lower bound is exact (a failure restored before the window makes an episode that is dropped
    # later); the earliest ``since`` lets the failures be read through indexes.
    bound = select(func.min(since.c.since)).scalar_subquery()
    began = case((and_(d.status == SUCCESS, i.opened_at > d.finished_at), i.opened_at), else_=d.finished_at)
    finished_since = (  # failures finished since the service's last success before the window
        select(d.id, d.service_id, d.team_id, d.finished_at, d.started_at, began.label("began"))
        .select_from(since)
        .join(
            d,
            and_(
                d.service_id == since.c.service_id,
                d.environment_id.in_(production),
                d.finished_at >= since.c.since,
                d.finished_at >= bound,
                d.finished_at < window.end,
            ),
        )
        .outerjoin(i, i.deployment_id == d.id)
        .where(or_(d.status.in_(FAILURES), and_(d.status == SUCCESS, i.id.is_not(None))), began < window.end)
    )
    # Successes that finished before that but whose incident opened since (few: each incident read finds
    # its deployment by primary key).
    opened_since = (
        select(d.id, d.service_id, d.team_id, d.finished_at, d.started_at, i.opened_at.label("began"))
        .select_from(i)
        .join(d, d.id == i.deployment_id)
        .join(since, since.c.service_id == d.service_id)
        .where(
            i.opened_at >= bound,
            i.opened_at >= since.c.since,
            i.opened_at < window.end,
            d.finished_at < since.c.since,
            d.status == SUCCESS,
            in_production(d.environment_id, production, dialect=dialect, probe=True),
        )
    )
    failures = union_all(finished_since, opened_since).cte("failures")
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
    window (the earliest instant when there is none). A team's episodes are on services it deployed to."""
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
    services = select(s.id.label("service_id"), func.coalesce(before, EARLIEST).label("since"))
    if scoped.kind is ScopeKind.SERVICE:
        services = services.where(s.id == scoped.id)
    elif scoped.kind is ScopeKind.TEAM:
        deployed = aliased(DeploymentRow)
        team_services = (
            select(deployed.service_id)
            .where(deployed.team_id == scoped.id, deployed.environment_id.in_(production))
            .group_by(deployed.service_id)
            .subquery("team_services")
        )
        services = services.join(team_services, team_services.c.service_id == s.id)
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

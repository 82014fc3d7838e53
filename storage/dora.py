"""The DORA metrics in SQL: ``MetricInputs`` aggregated by the database, equal to ``core.dora.reference_inputs``.

The same statements (SQLAlchemy Core, window functions) run on SQLite and PostgreSQL; three things are
spelt per dialect: the quarter hour of an instant, the seconds between two instants (exact to the
microsecond), and on SQLite a hint that keeps a correlated lookup on the right index (it plans without
statistics). Each rule reads the rows it needs through an index: the window's finishes by (environment,
finished_at) or (team, environment, finished_at), a commit's earlier successes by (service, commit) then
(release, finished_at), a failure's restoring success by (service, environment, finished_at), incidents by
the time they opened or were resolved. Lead times come back as seconds, restore and incident durations as
instants subtracted here; percentiles and bands are left to ``core.dora.assemble``.

Bot statuses map onto the spec's: ``pending_approval``, ``queued`` and ``running`` are in progress;
``rejected``, ``expired`` and ``cancelled`` never count (see ``core.dora``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.dora import Fact, MetricInputs, Scope, ScopeKind, Window, lookback_start
from core.model import DeploymentStatus
from storage.dora_restore import Scoped, episodes_query, in_production, restore_episodes
from storage.rows import DeploymentRow, EnvironmentRow, IncidentRow, ReleaseRow, ServiceRow, TeamRow

SUCCESS = DeploymentStatus.SUCCESS.value
FAILED = DeploymentStatus.FAILED.value
ROLLED_BACK = DeploymentStatus.ROLLED_BACK.value
FINISHED = (SUCCESS, FAILED, ROLLED_BACK)
IN_PROGRESS_STATUSES = tuple(
    s.value for s in (DeploymentStatus.PENDING_APPROVAL, DeploymentStatus.QUEUED, DeploymentStatus.RUNNING)
)
COUNTED = FINISHED + IN_PROGRESS_STATUSES
QUARTER_HOUR_S = 900
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fact_status(stored: str) -> str:
    """The spec's status of a stored deployment (any other status is kept and never counts)."""
    return "in_progress" if stored in IN_PROGRESS_STATUSES else stored


def precedes(a: Any, b: Any) -> ColumnElement[bool]:
    """S9 order: ``a`` comes before ``b`` by (finished_at, deployed_at with a missing one last, id)."""
    same_start = or_(a.started_at == b.started_at, and_(a.started_at.is_(None), b.started_at.is_(None)))
    return or_(
        a.finished_at < b.finished_at,
        and_(
            a.finished_at == b.finished_at,
            or_(
                and_(a.started_at.is_not(None), b.started_at.is_(None)),
                a.started_at < b.started_at,
                and_(same_start, a.id < b.id),
            ),
        ),
    )


class MetricsQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def inputs(self, scope: Scope, window: Window) -> MetricInputs:
        production = list((await self.session.execute(_PRODUCTION)).scalars())
        inputs = MetricInputs(data_start=window.data_start or await self._earliest())
        scoped = await self._scope(scope)
        if scoped is None or not production:
            return inputs
        q = _Queries(production, scoped, window, self.session.get_bind().dialect.name)
        await self._finishes(q, inputs)
        await self._lead_time(q, inputs)
        await restore_episodes(self.session, q.restore_query(), inputs, window)
        await self._incident_durations(q, inputs)
        inputs.in_flight_at_window_end = int(await self.session.scalar(q.in_flight()) or 0)
        return inputs

    async def facts(self) -> Sequence[Fact]:
        d, r = DeploymentRow, ReleaseRow
        query = (
            select(
                d.id,
                ServiceRow.name,
                TeamRow.name,
                EnvironmentRow.name,
                EnvironmentRow.is_production,
                r.commit_sha,
                r.committed_at,
                d.started_at,
                d.finished_at,
                d.status,
                IncidentRow.opened_at,
                IncidentRow.resolved_at,
            )
            .join(ServiceRow, ServiceRow.id == d.service_id)
            .join(EnvironmentRow, EnvironmentRow.id == d.environment_id)
            .join(r, r.id == d.release_id)
            .outerjoin(TeamRow, TeamRow.id == d.team_id)
            .outerjoin(IncidentRow, IncidentRow.deployment_id == d.id)
            .order_by(d.id)
        )
        return [
            Fact(
                id=id_,
                service=service,
                team=team,
                environment=environment,
                is_production=bool(is_production),
                commit_sha=sha,
                committed_at=committed_at,
                deployed_at=started_at,
                finished_at=finished_at,
                status=fact_status(status),
                incident_opened_at=opened,
                incident_resolved_at=resolved,
            )
            for (
                id_,
                service,
                team,
                environment,
                is_production,
                sha,
                committed_at,
                started_at,
                finished_at,
                status,
                opened,
                resolved,
            ) in (await self.session.execute(query))
        ]

    async def _earliest(self) -> datetime | None:
        """The earliest recorded deployment: its ``deployed_at``, else its ``finished_at`` (counted ones only)."""
        d = DeploymentRow
        started = select(d.started_at).where(d.status.in_(COUNTED), d.started_at.is_not(None))
        unstarted = select(d.finished_at).where(
            d.status.in_(COUNTED), d.started_at.is_(None), d.finished_at.is_not(None)
        )
        found = [
            await self.session.scalar(started.order_by(d.started_at).limit(1)),
            await self.session.scalar(unstarted.order_by(d.finished_at).limit(1)),
        ]
        return min((t for t in found if t is not None), default=None)

    async def _scope(self, scope: Scope) -> Scoped | None:
        """The scope with its row id; None when the team or service does not exist."""
        if scope.kind is ScopeKind.ORG:
            return Scoped(scope.kind)
        row: Any = TeamRow if scope.kind is ScopeKind.TEAM else ServiceRow
        found = await self.session.scalar(select(row.id).where(row.name == scope.name))
        return None if found is None else Scoped(scope.kind, int(found))

    async def _finishes(self, q: _Queries, inputs: MetricInputs) -> None:
        causes = inputs.failed_by_cause
        for quarter, in_window, successes, finished, failed, rolled_back, incident in await self.session.execute(
            q.finishes()
        ):
            if in_window:
                inputs.successful_deployments += int(successes)
                inputs.finished_deployments += int(finished)
                causes["failed"] += int(failed)
                causes["rolled_back"] += int(rolled_back)
                causes["incident"] += int(incident)
            if successes:
                instant = EPOCH + timedelta(seconds=int(quarter) * QUARTER_HOUR_S)
                inputs.success_finishes.append(max(instant, q.window.start) if in_window else instant)

    async def _lead_time(self, q: _Queries, inputs: MetricInputs) -> None:
        for (sample,) in await self.session.execute(q.first_successes()):
            if sample is None:
                inputs.excluded_missing_committed_at += 1
            elif sample < 0:
                inputs.excluded_negative += 1
            else:
                inputs.lead_time_samples.append(sample)

    async def _incident_durations(self, q: _Queries, inputs: MetricInputs) -> None:
        for opened, resolved in await self.session.execute(q.resolved_incidents()):
            if resolved is not None:  # the query asks for resolved ones
                inputs.incident_duration_samples.append((resolved - opened).total_seconds())


_PRODUCTION = select(EnvironmentRow.id).where(EnvironmentRow.is_production.is_(True))


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class _Queries:
    """The statements of one computation: production environments, scope condition and window bound in."""

    def __init__(self, production: list[int], scoped: Scoped, window: Window, dialect: str) -> None:
        self.production = production
        self.scope = scoped
        self.scoped = scoped.on(DeploymentRow.team_id, DeploymentRow.service_id)
        self.window = window
        self.dialect = dialect

    def _base(self, d: Any = DeploymentRow, *, probe: bool = False) -> ColumnElement[bool]:
        return in_production(d.environment_id, self.production, dialect=self.dialect, probe=probe)

    def _scoped_probe(self) -> ColumnElement[bool]:
        """The scope condition on a deployment found by primary key (see ``in_production``)."""
        d = DeploymentRow
        if self.dialect == "sqlite":
            return self.scope.on(d.team_id + 0, d.service_id + 0)
        return self.scoped

    def _in_window(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.window.start, column < self.window.end)

    def _seconds(self, later: Any, earlier: Any) -> Any:
        """``later - earlier`` in seconds, exact to the microsecond (NULL when either is NULL).

        SQLite keeps instants as text with six decimals (``storage.rows.UTCDateTime``): whole seconds from
        strftime and the microseconds read from the text, in integers."""
        if self.dialect == "sqlite":
            micros = (
                cast(func.strftime("%s", later), Integer) - cast(func.strftime("%s", earlier), Integer)
            ) * 1_000_000 + (cast(func.substr(later, 21, 6), Integer) - cast(func.substr(earlier, 21, 6), Integer))
            return cast(micros, Float) / 1_000_000
        return cast(func.extract("epoch", later - earlier), Float)

    def _quarter(self, column: Any) -> Any:
        """Whole quarter hours since the epoch (rounded down) of an instant."""
        if self.dialect == "sqlite":
            return cast(func.strftime("%s", column), Integer) // QUARTER_HOUR_S
        return cast(func.floor(func.extract("epoch", column) / QUARTER_HOUR_S), BigInteger)

    def finishes(self) -> Select[Any]:
        """S5 and S3 in one read of the window (and of the weeks before it that S5 classifies): production
        deployments finished in [lookback start, end) in scope, per quarter hour and window membership,
        with the successes and, in the window, the failures by cause."""
        d, i = DeploymentRow, IncidentRow
        quarter = self._quarter(d.finished_at).label("quarter")
        in_window = case((d.finished_at >= self.window.start, 1), else_=0).label("in_window")
        return (
            select(
                quarter,
                in_window,
                _count_if(d.status == SUCCESS),
                func.count(),
                _count_if(d.status == FAILED),
                _count_if(d.status == ROLLED_BACK),
                _count_if(and_(d.status == SUCCESS, i.id.is_not(None))),
            )
            .select_from(d)
            .outerjoin(i, i.deployment_id == d.id)
            .where(
                self._base(),
                d.status.in_(FINISHED),
                d.finished_at >= lookback_start(self.window),
                d.finished_at < self.window.end,
                self.scoped,
            )
            .group_by(quarter, in_window)
        )

    def first_successes(self) -> Any:
        """S6: successes in the window that are the first successful production deployment of their
        (service, commit) over all history; the releases of a service without a commit form one group.

        A commit's earlier successes are an anti-join on (service, commit) that the database may hash or
        probe by index. Each row: the lead time in seconds, or NULL when the commit time is missing."""
        d, r = DeploymentRow, ReleaseRow

        def first(same_commit: Any, has_commit: ColumnElement[bool]) -> Any:
            earlier_d, earlier_r = aliased(DeploymentRow), aliased(ReleaseRow)
            earlier = (
                select(literal(1))
                .select_from(earlier_d)
                .join(earlier_r, earlier_r.id == earlier_d.release_id)
                .where(
                    earlier_r.service_id == d.service_id,
                    same_commit(earlier_r),
                    self._base(earlier_d, probe=True),
                    earlier_d.status == SUCCESS,
                    precedes(earlier_d, d),
                )
            )
            return (
                select(self._seconds(d.finished_at, r.committed_at))
                .join(r, r.id == d.release_id)
                .where(self._base(), d.status == SUCCESS, self._in_window(d.finished_at), self.scoped, has_commit)
                .where(~exists(earlier))
            )

        with_commit = first(lambda other: other.commit_sha == r.commit_sha, r.commit_sha.is_not(None))
        without_commit = first(lambda other: other.commit_sha.is_(None), r.commit_sha.is_(None))
        return with_commit.union_all(without_commit)

    def restore_query(self) -> Select[Any]:
        return episodes_query(self.production, self.scope, self.window, self.dialect)

    def resolved_incidents(self) -> Select[datetime, datetime | None]:
        """S4 (informational): incidents of finished production deployments resolved in the window."""
        d, i = DeploymentRow, IncidentRow
        return (
            select(i.opened_at, i.resolved_at)
            .join(d, d.id == i.deployment_id)
            .where(
                self._base(probe=True),
                d.status.in_(FINISHED),
                d.finished_at.is_not(None),
                self._in_window(i.resolved_at),
                i.resolved_at >= i.opened_at,
                self._scoped_probe(),
            )
        )

    def in_flight(self) -> Select[Any]:
        """S8: started before the end and not finished before it (still running, or finishing later).
        Two counts rather than one OR, so that each reads its own index range."""
        d = DeploymentRow
        end = self.window.end

        def count(unfinished: ColumnElement[bool]) -> Any:
            started = and_(self._base(), d.status.in_(COUNTED), d.started_at < end, self.scoped)
            return select(func.count()).select_from(d).where(started, unfinished).scalar_subquery()

        return select(count(d.finished_at.is_(None)) + count(d.finished_at >= end))

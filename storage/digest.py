"""The weekly digests: exactly one run per scope and week, and the lists a digest shows beside the metrics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.digest import DigestRun, FailedDeployment, OpenFailure, SlowChange
from core.dora import Scope, ScopeKind
from storage.dora import precedes
from storage.repositories import insert_ignoring_conflicts
from storage.rows import (
    DeploymentRow,
    DigestRunRow,
    EnvironmentRow,
    IncidentRow,
    ReleaseRow,
    ServiceRow,
    TeamRow,
    UserRow,
)

FAILED = ("failed", "rolled_back")
SUCCESS = "success"


def _production(deployment: Any) -> ColumnElement[bool]:
    return exists().where(EnvironmentRow.id == deployment.environment_id, EnvironmentRow.is_production.is_(True))


def _failure_start(deployment: Any) -> ColumnElement[Any]:
    """S4: the finish, or for a success with an incident the later of the finish and the incident's opening."""
    return case(
        (
            and_(deployment.status == SUCCESS, IncidentRow.opened_at > deployment.finished_at),
            IncidentRow.opened_at,
        ),
        else_=deployment.finished_at,
    )


def _is_failure(deployment: Any) -> ColumnElement[bool]:
    return or_(deployment.status.in_(FAILED), and_(deployment.status == SUCCESS, IncidentRow.opened_at.is_not(None)))


class DigestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sent(self, scope: str, period_start: datetime) -> DigestRun | None:
        query = select(DigestRunRow).where(DigestRunRow.scope == scope, DigestRunRow.period_start == period_start)
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            return None
        return DigestRun(
            scope=row.scope,
            period_start=row.period_start,
            period_end=row.period_end,
            payload=row.payload,
            created_at=row.created_at,
        )

    async def claim(self, run: DigestRun, *, claimed_by: str) -> bool:
        # INSERT .. ON CONFLICT DO NOTHING: the loser of a race sees no row inserted, and no error that
        # would abort a PostgreSQL transaction; on PostgreSQL it waits for the winner to commit or roll back.
        statement = (
            insert_ignoring_conflicts(self.session, DigestRunRow)
            .values(
                scope=run.scope,
                period_start=run.period_start,
                period_end=run.period_end,
                status="sent",  # handed to the outbox in this same transaction
                claimed_by=claimed_by[:80],
                payload=run.payload,
                created_at=run.created_at,
                sent_at=run.created_at,
            )
            .on_conflict_do_nothing(index_elements=["scope", "period_start"])
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def _in_scope(self, scope: Scope, deployment: Any = DeploymentRow) -> ColumnElement[bool] | None:
        """The scope as a condition on the deployment (S2); None when its team or service does not exist."""
        if scope.kind is ScopeKind.ORG:
            return true()
        row = TeamRow if scope.kind is ScopeKind.TEAM else ServiceRow
        found = (await self.session.execute(select(row.id).where(row.name == scope.name))).scalar_one_or_none()
        if found is None:
            return None
        column = deployment.team_id if scope.kind is ScopeKind.TEAM else deployment.service_id
        return column == found  # type: ignore[no-any-return]

    async def failures(self, scope: Scope, start: datetime, end: datetime) -> Sequence[FailedDeployment]:
        in_scope = await self._in_scope(scope)
        if in_scope is None:
            return []
        query = (
            select(DeploymentRow, ServiceRow.name, ReleaseRow.version, IncidentRow.opened_at)
            .join(ServiceRow, ServiceRow.id == DeploymentRow.service_id)
            .join(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id)
            .outerjoin(IncidentRow, IncidentRow.deployment_id == DeploymentRow.id)
            .where(
                DeploymentRow.finished_at >= start,
                DeploymentRow.finished_at < end,
                _is_failure(DeploymentRow),
                _production(DeploymentRow),
                in_scope,
            )
            .order_by(DeploymentRow.finished_at, DeploymentRow.started_at.is_(None), DeploymentRow.started_at)
            .order_by(DeploymentRow.id)
        )
        found = []
        for row, service, version, _opened in (await self.session.execute(query)).all():
            assert row.finished_at is not None
            cause = row.status if row.status in FAILED else "incident"
            found.append(FailedDeployment(row.id, service, version, row.finished_at, cause))
        return found

    async def open_failures(self, scope: Scope, end: datetime) -> Sequence[OpenFailure]:
        other = aliased(DeploymentRow)
        in_scope = await self._in_scope(scope, other)
        if in_scope is None:
            return []
        restorer = aliased(DeploymentRow)
        start = _failure_start(DeploymentRow)
        restored = exists().where(
            restorer.service_id == DeploymentRow.service_id,
            restorer.status == SUCCESS,
            restorer.finished_at > start,
            restorer.finished_at < end,
            _production(restorer),
        )
        # An episode belongs to the scope of its earliest failure: read every open failure of the services
        # the scope touches, then keep the episodes whose earliest failure is in scope.
        touched = select(other.service_id).where(in_scope)
        query = (
            select(DeploymentRow, ServiceRow.name, ReleaseRow.version, TeamRow.name, IncidentRow.opened_at)
            .join(ServiceRow, ServiceRow.id == DeploymentRow.service_id)
            .join(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id)
            .outerjoin(TeamRow, TeamRow.id == DeploymentRow.team_id)
            .outerjoin(IncidentRow, IncidentRow.deployment_id == DeploymentRow.id)
            .where(
                DeploymentRow.finished_at.is_not(None),
                _is_failure(DeploymentRow),
                _production(DeploymentRow),
                DeploymentRow.service_id.in_(touched),
                start < end,
                ~restored,
            )
        )
        episodes: dict[str, list[_Failure]] = defaultdict(list)
        for row, service, version, team, opened in (await self.session.execute(query)).all():
            finished = row.finished_at
            assert finished is not None  # the query reads finished deployments only
            began = max(finished, opened) if row.status == SUCCESS and opened is not None else finished
            episodes[service].append(_Failure(began, row, version, team))
        found = []
        for service, failures in episodes.items():
            earliest = min(failures, key=_Failure.order)
            if scope.kind is ScopeKind.TEAM and earliest.team != scope.name:
                continue
            assert earliest.row.id is not None
            found.append(OpenFailure(service, earliest.row.id, earliest.version, earliest.began, len(failures)))
        return sorted(found, key=lambda item: (item.since, item.service))

    async def slowest_lead_times(
        self, scope: Scope, start: datetime, end: datetime, *, limit: int
    ) -> Sequence[SlowChange]:
        in_scope = await self._in_scope(scope)
        if in_scope is None:
            return []
        earlier = aliased(DeploymentRow)
        earlier_release = aliased(ReleaseRow)
        same_commit = or_(
            earlier_release.commit_sha == ReleaseRow.commit_sha,
            and_(earlier_release.commit_sha.is_(None), ReleaseRow.commit_sha.is_(None)),
        )
        deployed_before = (
            select(earlier.id)
            .join(earlier_release, earlier_release.id == earlier.release_id)
            .where(
                earlier.service_id == DeploymentRow.service_id,
                earlier.status == SUCCESS,
                earlier.finished_at.is_not(None),
                same_commit,
                precedes(earlier, DeploymentRow),
                _production(earlier),
            )
            .exists()
        )
        query = (
            select(
                DeploymentRow.id,
                ServiceRow.name,
                ReleaseRow.version,
                DeploymentRow.finished_at,
                ReleaseRow.committed_at,
            )
            .join(ServiceRow, ServiceRow.id == DeploymentRow.service_id)
            .join(ReleaseRow, ReleaseRow.id == DeploymentRow.release_id)
            .where(
                DeploymentRow.status == SUCCESS,
                DeploymentRow.finished_at >= start,
                DeploymentRow.finished_at < end,
                ReleaseRow.committed_at.is_not(None),
                _production(DeploymentRow),
                in_scope,
                ~deployed_before,
            )
        )
        samples = []
        for deployment_id, service, version, finished_at, committed_at in (await self.session.execute(query)).all():
            if finished_at is None or committed_at is None:
                continue
            seconds = (finished_at - committed_at).total_seconds()
            if seconds >= 0:
                samples.append(SlowChange(deployment_id, service, version, seconds))
        samples.sort(key=lambda item: (-item.seconds, item.deployment_id))
        return samples[:limit]

    async def team_of(self, slack_user_id: str) -> str | None:
        query = (
            select(TeamRow.name)
            .join(UserRow, UserRow.team_id == TeamRow.id)
            .where(UserRow.slack_user_id == slack_user_id)
        )
        return (await self.session.execute(query)).scalar_one_or_none()


@dataclass(frozen=True)
class _Failure:
    began: datetime
    row: DeploymentRow
    version: str
    team: str | None

    def order(self) -> tuple[Any, ...]:
        """The earliest failure of an episode: by failure start, then S9 order."""
        row = self.row
        return (self.began, row.finished_at, row.started_at is None, row.started_at or row.finished_at, row.id)

"""Repositories: ORM rows mapped explicitly to core values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, DuplicateRequest
from core.model import (
    DeploymentStatus,
    Environment,
    NotifyLevel,
    Policy,
    Release,
    ReleaseStatus,
    Role,
    Service,
    StageSpec,
    Team,
    User,
)
from storage.rows import (
    EnvironmentRow,
    ProcessedRequestRow,
    ReleaseRow,
    ServiceRow,
    TeamRow,
    UserRow,
)

ACTIVE = [s.value for s in (DeploymentStatus.PENDING_APPROVAL, DeploymentStatus.QUEUED, DeploymentStatus.RUNNING)]


def _team(row: TeamRow) -> Team:
    return Team(
        name=row.name,
        slack_channel=row.slack_channel,
        timezone=row.timezone,
        digest_day=row.digest_day,
        digest_time=row.digest_time,
        id=row.id,
    )


def _assign(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


class TeamRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def row(self, name: str) -> TeamRow | None:
        return (await self.session.execute(select(TeamRow).where(TeamRow.name == name))).scalar_one_or_none()

    async def get(self, name: str) -> Team | None:
        row = await self.row(name)
        return _team(row) if row else None

    async def list(self) -> Sequence[Team]:
        rows = (await self.session.execute(select(TeamRow).order_by(TeamRow.name))).scalars()
        return [_team(r) for r in rows]

    async def upsert(self, team: Team, *, now: datetime) -> bool:
        values = {
            "slack_channel": team.slack_channel,
            "timezone": team.timezone,
            "digest_day": team.digest_day,
            "digest_time": team.digest_time,
        }
        row = await self.row(team.name)
        if row is None:
            self.session.add(TeamRow(name=team.name, created_at=now, **values))
            await self.session.flush()
            return True
        return _assign(row, values)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _row(self, slack_user_id: str) -> UserRow | None:
        query = select(UserRow).where(UserRow.slack_user_id == slack_user_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    def _user(self, row: UserRow, team: str | None) -> User:
        prefs = {str(key): bool(value) for key, value in (row.notify_prefs or {}).items()}
        return User(
            slack_user_id=row.slack_user_id,
            role=Role(row.role),
            name=row.name,
            team=team,
            id=row.id,
            notify_prefs=prefs,
        )

    async def get(self, slack_user_id: str) -> User | None:
        query = (
            select(UserRow, TeamRow.name)
            .outerjoin(TeamRow, UserRow.team_id == TeamRow.id)
            .where(UserRow.slack_user_id == slack_user_id)
        )
        found = (await self.session.execute(query)).one_or_none()
        return self._user(found[0], found[1]) if found else None

    async def list(self) -> Sequence[User]:
        query = select(UserRow, TeamRow.name).outerjoin(TeamRow, UserRow.team_id == TeamRow.id)
        return [self._user(row, team) for row, team in (await self.session.execute(query)).all()]

    async def set_role(
        self,
        slack_user_id: str,
        role: Role,
        *,
        now: datetime,
        name: str | None = None,
        team: str | None = None,
    ) -> bool:
        team_id = None
        if team is not None:
            team_row = await TeamRepository(self.session).row(team)
            team_id = team_row.id if team_row else None
        row = await self._row(slack_user_id)
        if row is None:
            self.session.add(
                UserRow(
                    slack_user_id=slack_user_id,
                    role=role.value,
                    name=name,
                    team_id=team_id,
                    notify_prefs={},
                    created_at=now,
                    updated_at=now,
                )
            )
            await self.session.flush()
            return True
        values: dict[str, Any] = {"role": role.value}
        if name is not None:
            values["name"] = name
        if team is not None:
            values["team_id"] = team_id
        changed = _assign(row, values)
        if changed:
            row.updated_at = now
        return changed

    async def set_notify_prefs(
        self, slack_user_id: str, prefs: Mapping[str, bool], *, now: datetime, role_if_new: Role
    ) -> bool:
        row = await self._row(slack_user_id)
        if row is None:
            await self.set_role(slack_user_id, role_if_new, now=now)
            row = await self._row(slack_user_id)
            assert row is not None
        if dict(row.notify_prefs or {}) == dict(prefs):
            return False
        row.notify_prefs = dict(prefs)
        row.updated_at = now
        return True


class ServiceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _query(self) -> Select[ServiceRow, str]:
        return select(ServiceRow, TeamRow.name).join(TeamRow, ServiceRow.team_id == TeamRow.id)

    @staticmethod
    def _service(row: ServiceRow, team: str) -> Service:
        return Service(
            name=row.name,
            team=team,
            slack_channel=row.slack_channel,
            repo_url=row.repo_url,
            active=row.active,
            digest=row.digest,
            id=row.id,
            notify_level=NotifyLevel(row.notify_level),
        )

    async def get(self, name: str) -> Service | None:
        found = (await self.session.execute(self._query().where(ServiceRow.name == name))).one_or_none()
        return self._service(found[0], found[1]) if found else None

    async def list(self) -> Sequence[Service]:
        rows = (await self.session.execute(self._query().order_by(ServiceRow.name))).all()
        return [self._service(row, team) for row, team in rows]

    async def upsert(self, service: Service, *, now: datetime) -> bool:
        team_row = await TeamRepository(self.session).row(service.team)
        if team_row is None:
            raise Conflict(f"There is no team `{service.team}`.")
        values = {
            "team_id": team_row.id,
            "slack_channel": service.slack_channel,
            "repo_url": service.repo_url,
            "active": service.active,
            "digest": service.digest,
        }
        if service.notify_level is not None:  # None keeps the stored level
            values["notify_level"] = service.notify_level.value
        row = (
            await self.session.execute(select(ServiceRow).where(ServiceRow.name == service.name))
        ).scalar_one_or_none()
        if row is None:
            values.setdefault("notify_level", NotifyLevel.EVERYTHING.value)
            self.session.add(ServiceRow(name=service.name, created_at=now, **values))
            await self.session.flush()
            return True
        return _assign(row, values)


def _environment(row: EnvironmentRow) -> Environment:
    return Environment(
        name=row.name,
        order=row.position,
        is_production=row.is_production,
        policy=Policy.from_dict(row.policy),
        stages=[StageSpec(**stage) for stage in row.stages or []],
        webhook_secret=row.webhook_secret,
        id=row.id,
    )


class EnvironmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _row(self, name: str) -> EnvironmentRow | None:
        query = select(EnvironmentRow).where(EnvironmentRow.name == name)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get(self, name: str) -> Environment | None:
        row = await self._row(name)
        return _environment(row) if row else None

    async def list(self) -> Sequence[Environment]:
        query = select(EnvironmentRow).order_by(EnvironmentRow.position, EnvironmentRow.name)
        return [_environment(r) for r in (await self.session.execute(query)).scalars()]

    async def upsert(self, environment: Environment, *, now: datetime) -> bool:
        values = {
            "position": environment.order,
            "is_production": environment.is_production,
            "policy": environment.policy.to_dict(),
            "stages": [
                {
                    "name": s.name,
                    "executor": s.executor,
                    "command": list(s.command),
                    "url": s.url,
                    "timeout_s": s.timeout_s,
                }
                for s in environment.stages
            ],
            "webhook_secret": environment.webhook_secret,
        }
        row = await self._row(environment.name)
        if row is None:
            self.session.add(EnvironmentRow(name=environment.name, created_at=now, **values))
            await self.session.flush()
            return True
        return _assign(row, values)


def _release(service: str, row: ReleaseRow) -> Release:
    return Release(
        service=service,
        version=row.version,
        commit_sha=row.commit_sha,
        created_by=row.created_by,
        created_at=row.created_at,
        committed_at=row.committed_at,
        notes=row.notes,
        status=ReleaseStatus(row.status),
        id=row.id,
    )


class ReleaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, service: str, version: str) -> Release | None:
        query = (
            select(ReleaseRow)
            .join(ServiceRow, ReleaseRow.service_id == ServiceRow.id)
            .where(ServiceRow.name == service, ReleaseRow.version == version)
        )
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            return None
        return _release(service, row)

    async def recent(self, service: str, *, limit: int) -> Sequence[Release]:
        query = (
            select(ReleaseRow)
            .join(ServiceRow, ReleaseRow.service_id == ServiceRow.id)
            .where(ServiceRow.name == service)
            .order_by(ReleaseRow.created_at.desc(), ReleaseRow.id.desc())
            .limit(limit)
        )
        return [_release(service, row) for row in (await self.session.execute(query)).scalars()]

    async def add(self, release: Release) -> Release:
        service_id = (
            await self.session.execute(select(ServiceRow.id).where(ServiceRow.name == release.service))
        ).scalar_one()
        row = ReleaseRow(
            service_id=service_id,
            version=release.version,
            commit_sha=release.commit_sha,
            committed_at=release.committed_at,
            notes=release.notes,
            status=release.status.value,
            created_by=release.created_by,
            created_at=release.created_at,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise Conflict(
                f"`{release.service}` `{release.version}` was created by someone else a moment ago.",
                hint="Use it, or create a new version.",
            ) from None
        release.id = row.id
        return release

    async def mark_bad(self, release_id: int) -> bool:
        statement = (
            update(ReleaseRow)
            .where(ReleaseRow.id == release_id, ReleaseRow.status == ReleaseStatus.ACTIVE.value)
            .values(status=ReleaseStatus.BAD.value)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)


class RequestLedger:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, request_key: str, *, now: datetime) -> None:
        # One statement, no savepoint: a repeated request inserts nothing (and, on PostgreSQL, waits for the
        # first one's transaction to end) instead of failing the transaction.
        statement = (
            insert_ignoring_conflicts(self.session, ProcessedRequestRow)
            .values(request_key=request_key[:200], created_at=now)
            .on_conflict_do_nothing(index_elements=["request_key"])
        )
        result = await self.session.execute(statement)
        if getattr(result, "rowcount", 0) != 1:
            raise DuplicateRequest(request_key)


def insert_ignoring_conflicts(session: AsyncSession, row: Any) -> Any:
    """The dialect's INSERT, for ``.on_conflict_do_nothing()``: a conflicting row is not inserted and the
    transaction goes on (PostgreSQL and SQLite both have it)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(row)

"""The store's half of the history import: bulk inserts in the caller's transaction, chunk by chunk.

No ORM objects: teams, services and environments are few and cached; releases are looked up per chunk
(the previous chunk's are kept, since a release's deployments are close together); deployments go in by
COPY on PostgreSQL. What only the database can tell is checked here and reported against the line: an
event already imported with other content, a release recorded with another commit, a deployment in
progress that would make a second active one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.dora_import_lines import IN_PROGRESS, ChunkOutcome, CreatedNames, HistoryRecord, LineProblem, show
from core.model import ACTIVE_DEPLOYMENT_STATUSES, DeploymentStatus
from storage.dora_bulk import allocate_ids, bulk_insert
from storage.rows import DeploymentRow, EnvironmentRow, IncidentRow, ReleaseRow, ServiceRow, TeamRow

IMPORTER = "import"  # requested_by, created_by and opened_by of imported history
PRODUCTION = "production"
_ACTIVE = [s.value for s in ACTIVE_DEPLOYMENT_STATUSES]
_STORED_STATUS = {IN_PROGRESS: DeploymentStatus.RUNNING.value}
_DEPLOYMENTS: Any = DeploymentRow.__table__
_DEPLOYMENT_COLUMNS = (
    "id",
    "release_id",
    "service_id",
    "environment_id",
    "team_id",
    "status",
    "kind",
    "requested_by",
    "requested_at",
    "started_at",
    "finished_at",
    "event_id",
    "import_digest",
)
_RELEASE_COLUMNS = ("id", "service_id", "version", "commit_sha", "committed_at", "status", "created_by", "created_at")
_RELEASES: Any = ReleaseRow.__table__
_UPDATE_RELEASE = (
    update(_RELEASES)
    .where(_RELEASES.c.id == bindparam("b_id"))
    .values(
        commit_sha=bindparam("b_sha"),
        committed_at=bindparam("b_committed_at", type_=_RELEASES.c.committed_at.type),
    )
)
_SERVICES: Any = ServiceRow.__table__
_UPDATE_TEAM = update(_SERVICES).where(_SERVICES.c.id == bindparam("b_id"))


@dataclass
class _Release:
    id: int | None
    sha: str | None
    committed_at: datetime | None
    created_at: datetime
    changed: bool = False
    new: bool = False


class HistoryImportStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._now: datetime | None = None
        self._teams: dict[str, tuple[int, str | None]] = {}
        self._services: dict[str, int] = {}
        self._environments: dict[str, int] = {}
        self._next_position = 0
        self._created = CreatedNames()
        self._latest_team: dict[str, tuple[datetime, int, str]] = {}  # created service: its latest deployment
        self._recent: dict[tuple[int, str], _Release] = {}
        self._events_before = True
        self._services_with_releases: set[int] = set()  # at the start
        self._created_releases: set[int] = set()  # hashes of the (service, version) this import created

    async def start(self, *, now: datetime) -> None:
        self._now = now
        self._created, self._latest_team, self._recent = CreatedNames(), {}, {}
        teams = await self.session.execute(select(TeamRow.name, TeamRow.id, TeamRow.slack_channel))
        self._teams = {name: (id_, channel) for name, id_, channel in teams}
        self._services = dict((await self.session.execute(select(ServiceRow.name, ServiceRow.id))).all())
        self._environments = dict((await self.session.execute(select(EnvironmentRow.name, EnvironmentRow.id))).all())
        position = await self.session.scalar(select(func.max(EnvironmentRow.position)))
        self._next_position = (position if position is not None else -1) + 1
        # With no event recorded before, a chunk's events can only repeat lines of this file (checked in core).
        any_event = select(DeploymentRow.id).where(DeploymentRow.event_id.is_not(None)).limit(1)
        self._events_before = await self.session.scalar(any_event) is not None
        with_releases = await self.session.execute(select(ReleaseRow.service_id).distinct())
        self._services_with_releases, self._created_releases = set(with_releases.scalars()), set()

    async def store(self, records: Sequence[HistoryRecord]) -> ChunkOutcome:
        outcome = ChunkOutcome()
        fresh = await self._new_events(records, outcome) if self._events_before else list(records)
        for record in fresh:
            await self._names(record)
        releases = await self._releases(fresh, outcome)
        await self._active(fresh, outcome)
        if outcome.problems:
            return outcome
        await self._save_releases(releases, outcome)
        ids = await allocate_ids(self.session, _DEPLOYMENTS, len(fresh))
        rows = [
            self._deployment(id_, r, releases[(self._services[r.service], r.version)])
            for id_, r in zip(ids, fresh, strict=True)
        ]
        await bulk_insert(self.session, _DEPLOYMENTS, _DEPLOYMENT_COLUMNS, rows)
        outcome.imported = len(rows)
        incidents = [(id_, r) for id_, r in zip(ids, fresh, strict=True) if r.incident_opened_at is not None]
        await self._incidents(incidents, outcome)
        self._recent = releases
        return outcome

    async def finish(self) -> CreatedNames:
        """A service created here belongs to the team of its latest imported deployment."""
        moves = [
            {"b_id": self._services[service], "team_id": self._teams[team][0]}
            for service, (_, _, team) in self._latest_team.items()
        ]
        if moves:
            await self.session.execute(_UPDATE_TEAM, moves)
        return self._created

    async def _new_events(self, records: Sequence[HistoryRecord], outcome: ChunkOutcome) -> list[HistoryRecord]:
        found = await self.session.execute(
            select(DeploymentRow.event_id, DeploymentRow.import_digest, DeploymentRow.id).where(
                DeploymentRow.event_id.in_([r.event_id for r in records])
            )
        )
        known = {event_id: (digest, id_) for event_id, digest, id_ in found}
        fresh = []
        for record in records:
            if record.event_id not in known:
                fresh.append(record)
                continue
            digest, id_ = known[record.event_id]
            if digest == record.digest:
                outcome.skipped += 1
                continue
            outcome.problems.append(
                LineProblem(
                    record.line,
                    f"`event_id` {show(record.event_id)} was imported before with other content (D-{id_}): "
                    "an imported record cannot change; give a corrected record a new event_id",
                )
            )
        return fresh

    async def _names(self, record: HistoryRecord) -> None:
        assert self._now is not None
        if record.team not in self._teams:
            team: dict[str, Any] = {
                "name": record.team,
                "slack_channel": None,
                "timezone": "UTC",
                "created_at": self._now,
            }
            self._teams[record.team] = (await self._insert(TeamRow, team), None)
            self._created.teams.append(record.team)
        if record.service not in self._services:
            team_id, channel = self._teams[record.team]
            service: dict[str, Any] = {
                "name": record.service,
                "team_id": team_id,
                "slack_channel": channel or "",
                "created_at": self._now,
            }
            self._services[record.service] = await self._insert(ServiceRow, service)
            self._created.services.append(record.service)
            self._latest_team[record.service] = (record.deployed_at, record.line, record.team)
            if not channel:
                self._created.services_without_channel.append(record.service)
        if record.environment not in self._environments:
            environment: dict[str, Any] = {
                "name": record.environment,
                "position": self._next_position,
                "is_production": record.environment == PRODUCTION,
                "policy": {},
                "stages": [],
                "created_at": self._now,
            }
            self._environments[record.environment] = await self._insert(EnvironmentRow, environment)
            self._next_position += 1
            self._created.environments.append(record.environment)
        latest = self._latest_team.get(record.service)
        if latest is not None and (record.deployed_at, record.line) > latest[:2]:
            self._latest_team[record.service] = (record.deployed_at, record.line, record.team)

    async def _insert(self, row: Any, values: dict[str, Any]) -> int:
        table = row.__table__
        return int((await self.session.execute(insert(table).values(**values).returning(table.c.id))).scalar_one())

    async def _releases(
        self, records: Sequence[HistoryRecord], outcome: ChunkOutcome
    ) -> dict[tuple[int, str], _Release]:
        """Each release of the chunk: one per (service, version), one commit, the earliest commit time."""
        keys = {(self._services[r.service], r.version) for r in records}
        releases = {key: self._recent[key] for key in keys if key in self._recent}
        missing = [key for key in keys if key not in releases and self._may_exist(key)]
        if missing:
            found = await self.session.execute(
                select(
                    ReleaseRow.service_id,
                    ReleaseRow.version,
                    ReleaseRow.id,
                    ReleaseRow.commit_sha,
                    ReleaseRow.committed_at,
                    ReleaseRow.created_at,
                ).where(tuple_(ReleaseRow.service_id, ReleaseRow.version).in_(missing))
            )
            for service_id, version, id_, sha, committed_at, created_at in found:
                releases[(service_id, version)] = _Release(id_, sha, committed_at, created_at)
        for record in records:
            key = (self._services[record.service], record.version)
            release = releases.get(key)
            if release is None:
                releases[key] = _Release(None, record.commit_sha, record.committed_at, record.deployed_at, new=True)
            elif record.commit_sha is not None and release.sha is not None and record.commit_sha != release.sha:
                where = f" (R-{release.id})" if release.id is not None else " on an earlier line"
                outcome.problems.append(
                    LineProblem(
                        record.line,
                        f"{record.service} {record.version} has commit {release.sha}{where}, not "
                        f"{record.commit_sha}: a version is one commit",
                    )
                )
            else:
                _merge(release, record)
        return releases

    def _may_exist(self, key: tuple[int, str]) -> bool:
        """False only for a release that certainly is not stored yet: its service had none at the start, and
        this import has not created it (a hash collision merely costs a look-up)."""
        return key[0] in self._services_with_releases or hash(key) in self._created_releases

    async def _active(self, records: Sequence[HistoryRecord], outcome: ChunkOutcome) -> None:
        """An in-progress record becomes a running deployment: never a second one for its service and place."""
        waiting = {
            (self._services[r.service], self._environments[r.environment]): r
            for r in records
            if r.status == IN_PROGRESS
        }
        if not waiting:
            return
        found = await self.session.execute(
            select(DeploymentRow.service_id, DeploymentRow.environment_id, DeploymentRow.id).where(
                DeploymentRow.status.in_(_ACTIVE),
                tuple_(DeploymentRow.service_id, DeploymentRow.environment_id).in_(list(waiting)),
            )
        )
        for service_id, environment_id, id_ in found:
            record = waiting[(service_id, environment_id)]
            outcome.problems.append(
                LineProblem(
                    record.line,
                    f"{record.service} already has a deployment in progress to {record.environment} (D-{id_}): "
                    "a service has at most one deployment in progress per environment",
                )
            )

    async def _save_releases(self, releases: dict[tuple[int, str], _Release], outcome: ChunkOutcome) -> None:
        unsaved = [release for release in releases.values() if release.id is None]
        for release, id_ in zip(unsaved, await allocate_ids(self.session, _RELEASES, len(unsaved)), strict=True):
            release.id = id_
        new = [
            (release.id, service_id, version, release.sha, release.committed_at, "active", IMPORTER, release.created_at)
            for (service_id, version), release in releases.items()
            if release.new
        ]
        await bulk_insert(self.session, _RELEASES, _RELEASE_COLUMNS, new)
        self._created_releases.update(hash((row[1], row[2])) for row in new)
        outcome.releases_created = len(new)
        changed = [
            {"b_id": r.id, "b_sha": r.sha, "b_committed_at": r.committed_at}
            for r in releases.values()
            if r.changed and not r.new
        ]
        if changed:
            await self.session.execute(_UPDATE_RELEASE, changed)
        for release in releases.values():
            release.changed = release.new = False

    def _deployment(self, id_: int, record: HistoryRecord, release: _Release) -> tuple[Any, ...]:
        """A deployment row, in the order of ``_DEPLOYMENT_COLUMNS``."""
        return (
            id_,
            release.id,
            self._services[record.service],
            self._environments[record.environment],
            self._teams[record.team][0],
            _STORED_STATUS.get(record.status, record.status),
            record.kind,
            IMPORTER,
            record.deployed_at,
            record.deployed_at,
            record.finished_at,
            record.event_id,
            record.digest,
        )

    async def _incidents(self, records: Sequence[tuple[int, HistoryRecord]], outcome: ChunkOutcome) -> None:
        if not records:
            return
        rows = [
            {
                "deployment_id": id_,
                "opened_at": r.incident_opened_at,
                "opened_by": IMPORTER,
                "resolved_at": r.incident_resolved_at,
                "resolved_by": IMPORTER if r.incident_resolved_at is not None else None,
            }
            for id_, r in records
        ]
        incidents: Any = IncidentRow.__table__
        await self.session.execute(insert(incidents), rows)
        outcome.incidents = len(rows)


def _merge(release: _Release, record: HistoryRecord) -> None:
    """A release's commit once known, and the earliest commit time any of its records gives."""
    if record.commit_sha is not None and release.sha is None:
        release.sha, release.changed = record.commit_sha, True
    if record.committed_at is not None and (release.committed_at is None or record.committed_at < release.committed_at):
        release.committed_at, release.changed = record.committed_at, True


async def refresh_statistics(engine: AsyncEngine) -> None:
    """After an import, PostgreSQL's tables are vacuumed and analysed at once rather than whenever autovacuum
    comes by: the metrics' plans depend on fresh statistics, and their reads on the visibility map (VACUUM
    runs outside a transaction). The SQLite statements are shaped to need no statistics."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) deployments, releases, incidents"))

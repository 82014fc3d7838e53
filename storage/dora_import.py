"""The store's half of the history import: bulk inserts in the caller's transaction, chunk by chunk.

Plain Core statements (executemany, no ORM objects) keep it fast; teams, services and environments are few
and cached. What only the database can tell is checked here and reported against the line: an event
already imported with other content, a release recorded with another commit, a deployment in progress
that would make a second active one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.dora_import import IN_PROGRESS, ChunkOutcome, CreatedNames, HistoryRecord, LineProblem, show
from core.model import ACTIVE_DEPLOYMENT_STATUSES, DeploymentStatus
from storage.rows import DeploymentRow, EnvironmentRow, IncidentRow, ReleaseRow, ServiceRow, TeamRow

IMPORTER = "import"  # requested_by, created_by and opened_by of imported history
PRODUCTION = "production"
_ACTIVE = [s.value for s in ACTIVE_DEPLOYMENT_STATUSES]
_STORED_STATUS = {IN_PROGRESS: DeploymentStatus.RUNNING.value}
_DEPLOYMENTS = DeploymentRow.__table__
_RELEASES = ReleaseRow.__table__
_UPDATE_RELEASE = (
    update(_RELEASES)
    .where(_RELEASES.c.id == bindparam("b_id"))
    .values(
        commit_sha=bindparam("b_sha"),
        committed_at=bindparam("b_committed_at", type_=_RELEASES.c.committed_at.type),
    )
)


@dataclass
class _Release:
    id: int | None
    sha: str | None
    committed_at: datetime | None
    changed: bool = False


class HistoryImportStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._now: datetime | None = None
        self._teams: dict[str, tuple[int, str | None]] = {}
        self._services: dict[str, int] = {}
        self._environments: dict[str, int] = {}
        self._next_position = 0
        self._created = CreatedNames()

    async def start(self, *, now: datetime) -> None:
        self._now = now
        self._created = CreatedNames()
        teams = await self.session.execute(select(TeamRow.name, TeamRow.id, TeamRow.slack_channel))
        self._teams = {name: (id_, channel) for name, id_, channel in teams}
        self._services = dict((await self.session.execute(select(ServiceRow.name, ServiceRow.id))).all())
        envs = (await self.session.execute(select(EnvironmentRow.name, EnvironmentRow.id))).all()
        self._environments = dict(envs)
        position = await self.session.scalar(select(func.max(EnvironmentRow.position)))
        self._next_position = (position if position is not None else -1) + 1

    async def store(self, records: Sequence[HistoryRecord]) -> ChunkOutcome:
        outcome = ChunkOutcome()
        fresh = await self._new_events(records, outcome)
        for record in fresh:
            await self._names(record)
        releases = await self._releases(fresh, outcome)
        await self._active(fresh, outcome)
        if outcome.problems:
            return outcome
        await self._save_releases(releases, fresh, outcome)
        rows = [self._deployment(r, releases[(self._services[r.service], r.version)]) for r in fresh]
        if rows:
            await self.session.execute(insert(_DEPLOYMENTS), rows)
        outcome.imported = len(rows)
        await self._incidents([r for r in fresh if r.incident_opened_at is not None], outcome)
        return outcome

    async def finish(self) -> CreatedNames:
        """A service created here belongs to the team of its latest imported deployment."""
        for name in self._created.services:
            service_id = self._services[name]
            latest = (
                select(DeploymentRow.team_id)
                .where(DeploymentRow.service_id == service_id, DeploymentRow.team_id.is_not(None))
                .order_by(DeploymentRow.started_at.desc(), DeploymentRow.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            await self.session.execute(update(ServiceRow).where(ServiceRow.id == service_id).values(team_id=latest))
        return self._created

    async def _new_events(self, records: Sequence[HistoryRecord], outcome: ChunkOutcome) -> list[HistoryRecord]:
        ids = [r.event_id for r in records]
        found = await self.session.execute(
            select(DeploymentRow.event_id, DeploymentRow.import_digest, DeploymentRow.id).where(
                DeploymentRow.event_id.in_(ids)
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
            else:
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
            values = {"name": record.team, "slack_channel": None, "timezone": "UTC", "created_at": self._now}
            id_ = await self._insert(TeamRow, values)
            self._teams[record.team] = (id_, None)
            self._created.teams.append(record.team)
        if record.service not in self._services:
            team_id, channel = self._teams[record.team]
            values = {
                "name": record.service,
                "team_id": team_id,
                "slack_channel": channel or "",
                "created_at": self._now,
            }
            self._services[record.service] = await self._insert(ServiceRow, values)
            self._created.services.append(record.service)
            if not channel:
                self._created.services_without_channel.append(record.service)
        if record.environment not in self._environments:
            values = {
                "name": record.environment,
                "position": self._next_position,
                "is_production": record.environment == PRODUCTION,
                "policy": {},
                "stages": [],
                "created_at": self._now,
            }
            self._environments[record.environment] = await self._insert(EnvironmentRow, values)
            self._next_position += 1
            self._created.environments.append(record.environment)

    async def _insert(self, row: Any, values: dict[str, Any]) -> int:
        inserted = await self.session.execute(insert(row).values(**values).returning(row.id))
        return int(inserted.scalar_one())

    async def _releases(
        self, records: Sequence[HistoryRecord], outcome: ChunkOutcome
    ) -> dict[tuple[int, str], _Release]:
        """Each release of the chunk: one per (service, version), one commit, the earliest commit time."""
        keys = {(self._services[r.service], r.version) for r in records}
        releases: dict[tuple[int, str], _Release] = {}
        if keys:
            found = await self.session.execute(
                select(
                    ReleaseRow.service_id,
                    ReleaseRow.version,
                    ReleaseRow.id,
                    ReleaseRow.commit_sha,
                    ReleaseRow.committed_at,
                ).where(tuple_(ReleaseRow.service_id, ReleaseRow.version).in_(keys))
            )
            for service_id, version, id_, sha, committed_at in found:
                releases[(service_id, version)] = _Release(id_, sha, committed_at)
        for record in records:
            key = (self._services[record.service], record.version)
            release = releases.get(key)
            if release is None:
                releases[key] = _Release(None, record.commit_sha, record.committed_at)
                continue
            if record.commit_sha is not None and release.sha is not None and record.commit_sha != release.sha:
                where = f" (R-{release.id})" if release.id is not None else " on an earlier line"
                outcome.problems.append(
                    LineProblem(
                        record.line,
                        f"{record.service} {record.version} has commit {release.sha}{where}, not "
                        f"{record.commit_sha}: a version is one commit",
                    )
                )
                continue
            if record.commit_sha is not None and release.sha is None:
                release.sha, release.changed = record.commit_sha, True
            if record.committed_at is not None and (
                release.committed_at is None or record.committed_at < release.committed_at
            ):
                release.committed_at, release.changed = record.committed_at, True
        return releases

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

    async def _save_releases(
        self, releases: dict[tuple[int, str], _Release], records: Sequence[HistoryRecord], outcome: ChunkOutcome
    ) -> None:
        first_seen: dict[tuple[int, str], datetime] = {}
        for record in records:
            first_seen.setdefault((self._services[record.service], record.version), record.deployed_at)
        new = [
            {
                "service_id": service_id,
                "version": version,
                "commit_sha": release.sha,
                "committed_at": release.committed_at,
                "status": "active",
                "created_by": IMPORTER,
                "created_at": first_seen[(service_id, version)],
            }
            for (service_id, version), release in releases.items()
            if release.id is None
        ]
        if new:
            await self.session.execute(insert(_RELEASES), new)
            found = await self.session.execute(
                select(ReleaseRow.service_id, ReleaseRow.version, ReleaseRow.id).where(
                    tuple_(ReleaseRow.service_id, ReleaseRow.version).in_(
                        [(r["service_id"], r["version"]) for r in new]
                    )
                )
            )
            for service_id, version, id_ in found:
                releases[(service_id, version)].id = id_
            outcome.releases_created = len(new)
        changed = [
            {"b_id": r.id, "b_sha": r.sha, "b_committed_at": r.committed_at}
            for r in releases.values()
            if r.changed and r.id is not None
        ]
        if changed:
            await self.session.execute(_UPDATE_RELEASE, changed)

    def _deployment(self, record: HistoryRecord, release: _Release) -> dict[str, Any]:
        return {
            "release_id": release.id,
            "service_id": self._services[record.service],
            "environment_id": self._environments[record.environment],
            "team_id": self._teams[record.team][0],
            "status": _STORED_STATUS.get(record.status, record.status),
            "kind": record.kind,
            "requested_by": IMPORTER,
            "requested_at": record.deployed_at,
            "started_at": record.deployed_at,
            "finished_at": record.finished_at,
            "event_id": record.event_id,
            "import_digest": record.digest,
            "cancel_requested": False,
            "bypasses": [],
        }

    async def _incidents(self, records: Sequence[HistoryRecord], outcome: ChunkOutcome) -> None:
        if not records:
            return
        found = await self.session.execute(
            select(DeploymentRow.event_id, DeploymentRow.id).where(
                DeploymentRow.event_id.in_([r.event_id for r in records])
            )
        )
        ids = dict(found.all())
        rows = [
            {
                "deployment_id": ids[r.event_id],
                "opened_at": r.incident_opened_at,
                "opened_by": IMPORTER,
                "resolved_at": r.incident_resolved_at,
                "resolved_by": IMPORTER if r.incident_resolved_at is not None else None,
            }
            for r in records
        ]
        await self.session.execute(insert(IncidentRow.__table__), rows)
        outcome.incidents = len(rows)

"""The history import against a real store: one transaction, idempotent, every bad line named."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from core import configuration
from core.dora_import import ImportRejected, ImportReport, import_history
from core.model import Actor, Role, Source
from storage.rows import (
    AuditRow,
    DeploymentRow,
    EnvironmentRow,
    IncidentRow,
    OutboxRow,
    ReleaseRow,
    ServiceRow,
    TeamRow,
)
from storage.uow import SqlUnitOfWork

CLI = Actor(user_id="cli", role=Role.ADMIN, source=Source.CLI)
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
Uow = Callable[[], SqlUnitOfWork]


def record(event: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": event,
        "service": "payments-api",
        "team": "payments",
        "environment": "production",
        "version": "v1.0",
        "commit_sha": "abc1234",
        "committed_at": "2026-10-30T10:00:00Z",
        "deployed_at": "2026-11-01T10:00:00Z",
        "finished_at": "2026-11-01T10:05:00Z",
        "status": "success",
        "kind": "deploy",
    }
    base.update(changes)
    return base


def lines(*records: dict[str, Any]) -> list[str]:
    return [json.dumps(r) for r in records]


async def run_import(uow: Uow, text: list[str], chunk_size: int = 5000) -> ImportReport:
    async with uow() as work:
        report = await import_history(
            work, text, actor=CLI, source="import:history.jsonl", now=NOW, request_id="r-1", chunk_size=chunk_size
        )
        await work.commit()
    return report


async def count(uow: Uow, row: Any) -> int:
    async with uow() as work:
        return int(await work.session.scalar(select(func.count()).select_from(row)) or 0)


async def rows(uow: Uow, *columns: Any, where: Any = None) -> list[tuple[Any, ...]]:
    async with uow() as work:
        query = select(*columns)
        if where is not None:
            query = query.where(where)
        return [tuple(r) for r in await work.session.execute(query.order_by(*columns[:1]))]


HISTORY = [
    *lines(
        record("e1"),
        # the same release later with an earlier commit time: the release keeps the earliest
        record(
            "e2",
            committed_at="2026-10-29T08:00:00+02:00",
            deployed_at="2026-11-01T12:00:00Z",
            finished_at="2026-11-01T12:10:00Z",
            environment="staging",
        ),
        record(
            "e3",
            version="v1.1",
            commit_sha="def5678",
            committed_at=None,
            deployed_at="2026-11-01T13:00:00Z",
            finished_at="2026-11-01T13:02:00Z",
            status="failed",
            kind="retry",
        ),
        record(
            "e4",
            version="v1.2",
            commit_sha=None,
            committed_at=None,
            deployed_at="2026-11-01T14:00:00Z",
            finished_at="2026-11-01T14:30:00Z",
            incident_opened_at="2026-11-01T15:00:00Z",
            incident_resolved_at=None,
        ),
    ),
    "",  # a blank line is skipped
    *lines(
        record(
            "e5",
            service="search-api",
            team="search",
            version="v3",
            deployed_at="2026-11-02T08:00:00Z",
            finished_at=None,
            status="in_progress",
        ),
    ),
]


async def test_an_import_stores_its_history_in_one_go_and_records_one_audit_entry(uow: Uow) -> None:
    report = await run_import(uow, HISTORY, chunk_size=2)  # several chunks, one transaction
    assert (report.lines, report.records, report.imported, report.skipped) == (6, 5, 5, 0)
    assert (report.releases_created, report.incidents) == (4, 1)
    assert report.teams_created == ["payments", "search"]
    assert report.services_created == ["payments-api", "search-api"]
    assert report.environments_created == ["production", "staging"]
    assert await rows(uow, EnvironmentRow.name, EnvironmentRow.is_production) == [
        ("production", True),
        ("staging", False),
    ]
    assert await rows(uow, ReleaseRow.version, ReleaseRow.commit_sha, ReleaseRow.committed_at) == [
        ("v1.0", "abc1234", datetime(2026, 10, 29, 6, 0, tzinfo=UTC)),
        ("v1.1", "def5678", None),
        ("v1.2", None, None),
        ("v3", "abc1234", datetime(2026, 10, 30, 10, 0, tzinfo=UTC)),
    ]
    stored = await rows(
        uow,
        DeploymentRow.event_id,
        DeploymentRow.status,
        DeploymentRow.kind,
        DeploymentRow.started_at,
        DeploymentRow.finished_at,
        DeploymentRow.requested_by,
    )
    assert stored[2] == (
        "e3",
        "failed",
        "retry",
        datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 13, 2, tzinfo=UTC),
        "import",
    )
    assert stored[4][:2] == ("e5", "running") and stored[4][4] is None  # in progress: running, no finish
    assert await rows(uow, IncidentRow.opened_at, IncidentRow.resolved_at) == [
        (datetime(2026, 11, 1, 15, 0, tzinfo=UTC), None)
    ]
    audit = await rows(uow, AuditRow.action, AuditRow.actor, AuditRow.target, AuditRow.details)
    assert [a[:3] for a in audit] == [("history.import", "cli", "import:history.jsonl")]
    assert audit[0][3]["imported"] == 5 and audit[0][3]["services_created"] == ["payments-api", "search-api"]
    assert await count(uow, OutboxRow) == 0  # imported history sets nothing off


async def test_importing_the_same_file_twice_changes_nothing(uow: Uow) -> None:
    await run_import(uow, HISTORY)
    before = await rows(uow, DeploymentRow.id, DeploymentRow.event_id, DeploymentRow.status, DeploymentRow.finished_at)
    report = await run_import(uow, HISTORY)
    assert (report.imported, report.skipped, report.releases_created, report.incidents) == (0, 5, 0, 0)
    after = await rows(uow, DeploymentRow.id, DeploymentRow.event_id, DeploymentRow.status, DeploymentRow.finished_at)
    assert after == before
    assert (await count(uow, ReleaseRow), await count(uow, IncidentRow), await count(uow, ServiceRow)) == (4, 1, 2)


async def test_the_same_instant_in_another_offset_is_the_same_content(uow: Uow) -> None:
    await run_import(uow, lines(record("e1")))
    again = record("e1", deployed_at="2026-11-01T11:00:00+01:00", finished_at="2026-11-01T05:05:00-05:00")
    report = await run_import(uow, lines(again))
    assert (report.imported, report.skipped) == (0, 1)


async def test_an_event_imported_before_with_other_content_is_refused_and_nothing_is_stored(uow: Uow) -> None:
    await run_import(uow, lines(record("e1")))
    with pytest.raises(ImportRejected) as refused:
        await run_import(uow, lines(record("e9", version="v2.0"), record("e1", status="failed")))
    assert [str(p) for p in refused.value.problems] == [
        'line 2: `event_id` "e1" was imported before with other content (D-1): an imported record cannot change; '
        "give a corrected record a new event_id"
    ]
    assert await rows(uow, DeploymentRow.event_id, DeploymentRow.status) == [("e1", "success")]
    assert await count(uow, ReleaseRow) == 1


async def test_every_bad_line_is_named_and_nothing_of_the_file_is_stored(uow: Uow) -> None:
    text = [
        *lines(record("e1")),
        json.dumps(record("e2", deployed_at="2026-11-01 10:00:00")),
        json.dumps(record("e3", status="done")),
        "[1, 2]",
        json.dumps(record("e1", version="v9")),
        json.dumps(record("e5", finished_at=None)),
        json.dumps(record("e6", finished_at="2026-11-01T09:00:00Z")),
        json.dumps(record("e7", colour="blue")),
        json.dumps(record("e8", service="Payments API")),
        json.dumps(record("e9", incident_resolved_at="2026-11-01T11:00:00Z")),
        *lines(record("e10", version="v2")),
    ]
    with pytest.raises(ImportRejected) as refused:
        await run_import(uow, text, chunk_size=1)
    problems = [str(p) for p in refused.value.problems]
    assert problems == [
        'line 2: `deployed_at` "2026-11-01 10:00:00" has no UTC offset: add Z or an offset such as +01:00',
        'line 3: `status` is "done": use one of success, failed, rolled_back, in_progress',
        "line 4: expected a JSON object, found [1, 2]",
        'line 5: `event_id` "e1" is also on line 1',
        "line 6: `finished_at` is missing but `status` is success: only an in_progress deployment has no finish",
        "line 7: `finished_at` (2026-11-01T09:00:00.000000+00:00) is before `deployed_at` "
        "(2026-11-01T10:00:00.000000+00:00)",
        'line 8: unknown field "colour": the fields are event_id, service, team, environment, version, deployed_at, '
        "status, commit_sha, committed_at, finished_at, kind, incident_opened_at, incident_resolved_at",
        'line 9: `service` "Payments API" is not a valid name: use 1 to 63 lower-case letters, digits, `.`, `_` or '
        "`-`, starting with a letter or digit",
        "line 10: `incident_resolved_at` is set without `incident_opened_at`",
    ]
    assert refused.value.total == 9
    assert "9 bad lines: nothing was imported." in refused.value.render()
    for row in (DeploymentRow, ReleaseRow, TeamRow, ServiceRow, EnvironmentRow, AuditRow):
        assert await count(uow, row) == 0, row


async def test_a_version_given_two_commits_is_refused(uow: Uow) -> None:
    await run_import(uow, lines(record("e1")))
    with pytest.raises(ImportRejected) as refused:
        await run_import(uow, lines(record("e2", commit_sha="fff0000")))
    assert [str(p) for p in refused.value.problems] == [
        "line 1: payments-api v1.0 has commit abc1234 (R-1), not fff0000: a version is one commit"
    ]


async def test_in_progress_records_never_make_two_active_deployments(uow: Uow, clock: Any) -> None:
    busy = record("e1", finished_at=None, status="in_progress")
    with pytest.raises(ImportRejected) as refused:
        await run_import(uow, lines(busy, record("e2", version="v2", finished_at=None, status="in_progress")))
    assert [str(p) for p in refused.value.problems] == [
        "line 2: payments-api is already in progress to production on line 1: a service has at most one "
        "deployment in progress per environment"
    ]
    await run_import(uow, lines(busy))
    with pytest.raises(ImportRejected) as again:
        await run_import(uow, lines(record("e3", version="v3", finished_at=None, status="in_progress")))
    assert "(D-1)" in str(again.value.problems[0])


async def test_existing_teams_services_and_flags_are_kept(uow: Uow, clock: Any) -> None:
    common: dict[str, Any] = {"actor": CLI, "now": NOW, "request_id": "setup"}
    async with uow() as work:
        await configuration.add_team(work, name="payments", channel="C0PAYMENTS1", timezone="Europe/Berlin", **common)
        await configuration.add_environment(work, name="prod", production=True, order=1, **common)
        await work.commit()
    report = await run_import(uow, lines(record("e1", environment="prod"), record("e2", environment="qa")))
    assert report.teams_created == [] and report.environments_created == ["qa"]
    assert await rows(uow, EnvironmentRow.name, EnvironmentRow.is_production) == [("prod", True), ("qa", False)]
    assert await rows(uow, ServiceRow.name, ServiceRow.slack_channel) == [("payments-api", "C0PAYMENTS1")]
    assert report.services_without_channel == []


async def test_a_service_created_by_the_import_belongs_to_the_team_of_its_latest_deployment(uow: Uow) -> None:
    moved = record("e2", team="platform", deployed_at="2026-11-05T10:00:00Z", finished_at="2026-11-05T10:01:00Z")
    await run_import(uow, lines(moved, record("e1")))
    async with uow() as work:
        service = await work.services.get("payments-api")
    assert service is not None and service.team == "platform"
    teams = await rows(uow, DeploymentRow.event_id, TeamRow.name, where=DeploymentRow.team_id == TeamRow.id)
    assert teams == [("e1", "payments"), ("e2", "platform")]  # each deployment keeps its team


async def test_an_in_progress_record_is_refused_where_the_bot_has_an_active_deployment(workspace: Uow) -> None:
    async with workspace() as work:
        service = await work.services.get("payments-api")
        environment = await work.environments.get("production")
        assert service is not None and environment is not None
        release = await work.session.scalar(
            insert(ReleaseRow)
            .values(service_id=service.id, version="v0.9", created_by="U0DEV00001", created_at=NOW, status="active")
            .returning(ReleaseRow.id)
        )
        await work.session.execute(
            insert(DeploymentRow).values(
                release_id=release,
                service_id=service.id,
                environment_id=environment.id,
                status="queued",
                kind="deploy",
                requested_by="U0DEV00001",
                requested_at=NOW,
                started_at=NOW,
                cancel_requested=False,
                bypasses=[],
            )
        )
        await work.commit()
    staging = await run_import(
        workspace, lines(record("e1", environment="staging", finished_at=None, status="in_progress"))
    )
    assert staging.imported == 1
    with pytest.raises(ImportRejected) as refused:
        await run_import(workspace, lines(record("e2", finished_at=None, status="in_progress")))
    assert [str(p) for p in refused.value.problems] == [
        "line 1: payments-api already has a deployment in progress to production (D-1): a service has at most one "
        "deployment in progress per environment"
    ]

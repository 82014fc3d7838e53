"""The store's SQL metrics equal the reference (``core.dora.reference_metrics``) on random histories."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.dora import Window, assemble, reference_metrics
from core.dora_import import import_history
from core.model import Actor, Role, Source
from storage.engine import session_factory
from storage.rows import DeploymentRow, EnvironmentRow, IncidentRow, ReleaseRow, ServiceRow, TeamRow
from storage.uow import unit_of_work_factory
from tests.integration.dora_histories import SCOPES, History, histories, windows

NOW = datetime(2026, 5, 1, tzinfo=UTC)
IMPORTER = Actor(user_id="U0ADMIN001", role=Role.ADMIN, source=Source.CLI)


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for row in (IncidentRow, DeploymentRow, ReleaseRow, ServiceRow, TeamRow, EnvironmentRow):
            await connection.execute(delete(row))
        # `prod` is flagged production before the import; the import keeps the flag.
        await connection.execute(
            insert(EnvironmentRow),
            [
                {"name": "prod", "position": 0, "is_production": True, "policy": {}, "stages": [], "created_at": NOW},
                {
                    "name": "staging",
                    "position": 1,
                    "is_production": False,
                    "policy": {},
                    "stages": [],
                    "created_at": NOW,
                },
            ],
        )


async def _store(engine: AsyncEngine, history: History) -> None:
    uow = unit_of_work_factory(session_factory(engine), lambda: NOW)
    async with uow() as work:
        await import_history(work, history.jsonl(), actor=IMPORTER, source="history.jsonl", now=NOW, request_id=None)
        await work.commit()
    if not history.others:
        return
    async with engine.begin() as connection:  # deployments the bot itself refused, cancelled or queued
        for other in history.others:
            service = await _service_id(connection, other["service"])
            environment = await connection.scalar(
                select(EnvironmentRow.id).where(EnvironmentRow.name == other["environment"])
            ) or await connection.scalar(
                insert(EnvironmentRow)
                .values(name=other["environment"], position=2, is_production=True, policy={}, stages=[], created_at=NOW)
                .returning(EnvironmentRow.id)
            )
            release = await connection.scalar(
                insert(ReleaseRow)
                .values(
                    service_id=service,
                    version=f"x{other['status']}{id(other)}",
                    created_by="U0DEV00001",
                    created_at=NOW,
                    status="active",
                )
                .returning(ReleaseRow.id)
            )
            await connection.execute(
                insert(DeploymentRow).values(
                    release_id=release,
                    service_id=service,
                    environment_id=environment,
                    team_id=None,
                    status=other["status"],
                    kind="deploy",
                    requested_by="U0DEV00001",
                    requested_at=NOW,
                    started_at=other["started_at"],
                    finished_at=other["finished_at"],
                    cancel_requested=False,
                    bypasses=[],
                )
            )


async def _service_id(connection: object, name: str) -> int:
    found = await connection.scalar(select(ServiceRow.id).where(ServiceRow.name == name))  # type: ignore[attr-defined]
    if found is not None:
        return int(found)
    team = await connection.scalar(  # type: ignore[attr-defined]
        insert(TeamRow).values(name=f"t-{name}", timezone="UTC", created_at=NOW).returning(TeamRow.id)
    )
    return int(
        await connection.scalar(  # type: ignore[attr-defined]
            insert(ServiceRow)
            .values(name=name, team_id=team, slack_channel="C0TEST0001", created_at=NOW)
            .returning(ServiceRow.id)
        )
    )


async def _compare(engine: AsyncEngine, windows_: list[Window]) -> None:
    uow = unit_of_work_factory(session_factory(engine), lambda: NOW)
    async with uow() as work:
        facts = list(await work.metrics.facts())
        for window in windows_:
            for scope in SCOPES:
                from_sql = assemble(await work.metrics.inputs(scope, window), scope, window)
                assert from_sql == reference_metrics(facts, scope, window), (scope, window)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories(), windows_=st.lists(windows(), min_size=1, max_size=3))
async def test_sql_metrics_equal_the_reference_on_random_histories(
    migrated_engine: AsyncEngine, history: History, windows_: list[Window]
) -> None:
    await _reset(migrated_engine)
    await _store(migrated_engine, history)
    await _compare(migrated_engine, windows_)

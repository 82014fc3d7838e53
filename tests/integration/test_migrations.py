"""Migrations on empty databases, their agreement with storage.rows, and the constraints they create."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, insert, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from storage.engine import create_engine
from storage.rows import (
    AuditRow,
    Base,
    DeploymentRow,
    EnvironmentRow,
    LockRow,
    ReleaseRow,
    ServiceRow,
    TeamRow,
)
from storage.runbooks import is_search_object
from storage.schema import downgrade, schema_status, upgrade

EVERY_TABLE = set(Base.metadata.tables) | {"alembic_version"}
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MODEL_COPY = "model_copy"

only_postgres = pytest.mark.parametrize(
    "database_url",
    [pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


# The migration also creates the full-text search objects of runbooks, which storage.rows cannot declare (an
# FTS5 virtual table with its shadow tables and triggers on SQLite, a GIN expression index on PostgreSQL):
# comparisons with the models leave them out; tests/integration/test_runbook_search.py checks them.
async def _table_names(connection: AsyncConnection) -> set[str]:
    names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    return {name for name in names if not is_search_object(name)}


def _models_only(name: str | None, type_: str, parent_names: Any) -> bool:
    return not is_search_object(name)


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": _models_only})
    return list(compare_metadata(context, Base.metadata))


def _index_conditions(connection: Connection, schema: str | None = None) -> dict[str, str]:
    """The WHERE clause of every partial index, as the database reports it."""
    inspector = inspect(connection)
    key = f"{connection.dialect.name}_where"
    conditions = {}
    for table in inspector.get_table_names(schema=schema):
        for index in inspector.get_indexes(table, schema=schema):
            condition = index["dialect_options"].get(key)
            if condition is not None and index["name"] is not None:
                conditions[index["name"]] = str(getattr(condition, "text", condition))
    return conditions


async def _model_index_conditions(connection: AsyncConnection) -> dict[str, str]:
    """The same, for the indexes the models declare, built and read back by the same database.

    Databases normalise conditions as they store them (PostgreSQL rewrites IN as = ANY), so the
    models' indexes are created next to the migrated ones (PostgreSQL: in a schema of their own, in a
    transaction rolled back afterwards; SQLite: in a database in memory) and read back the same way.
    """
    if connection.dialect.name == "postgresql":
        await connection.exec_driver_sql(f"CREATE SCHEMA {MODEL_COPY}")
        copy = await connection.execution_options(schema_translate_map={None: MODEL_COPY})
        await copy.run_sync(Base.metadata.create_all)
        conditions = await connection.run_sync(_index_conditions, MODEL_COPY)
        await connection.rollback()
        return conditions
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        async with engine.begin() as memory:
            await memory.run_sync(Base.metadata.create_all)
            return await memory.run_sync(_index_conditions)
    finally:
        await engine.dispose()


async def _insert(connection: AsyncConnection, row: type[Base], **values: Any) -> int:
    result = await connection.execute(insert(row).values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def _service_environment_release(connection: AsyncConnection) -> dict[str, int]:
    team_id = await _insert(connection, TeamRow, name="payments", created_at=NOW)
    service_id = await _insert(
        connection, ServiceRow, name="billing", team_id=team_id, slack_channel="C0BILLING", created_at=NOW
    )
    environment_id = await _insert(connection, EnvironmentRow, name="production", created_at=NOW)
    release_id = await _insert(
        connection, ReleaseRow, service_id=service_id, version="1.4.0", created_by="U0ALICE", created_at=NOW
    )
    return {"release_id": release_id, "service_id": service_id, "environment_id": environment_id}


async def _add_deployment(engine: AsyncEngine, ids: dict[str, int], status: str) -> int:
    async with engine.begin() as connection:
        return await _insert(connection, DeploymentRow, **ids, status=status, requested_by="U0ALICE", requested_at=NOW)


async def test_upgrade_head_on_an_empty_database_creates_every_table(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # alembic.ini is found through the package, not the cwd

    await upgrade(database_url)

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await _table_names(connection) == EVERY_TABLE
    finally:
        await engine.dispose()


async def test_upgrade_works_on_an_in_memory_sqlite_database() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            assert await _table_names(connection) == EVERY_TABLE
        assert (await schema_status(engine)).is_current
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(migrated_engine: AsyncEngine) -> None:
    # compare_metadata covers tables, columns and their types, nullability, keys, unique constraints
    # and indexes, but not the WHERE clause of a partial index: the next test checks those.
    async with migrated_engine.connect() as connection:
        differences = await connection.run_sync(_schema_differences)

    assert differences == []


async def test_partial_indexes_carry_the_same_conditions_as_the_models(migrated_engine: AsyncEngine) -> None:
    dialect = migrated_engine.dialect.name
    partial = {
        index.name
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options[dialect]["where"] is not None
    }
    assert partial == {"uq_deployments_one_active", "uq_locks_one_active"}

    async with migrated_engine.connect() as connection:
        migrated = await connection.run_sync(_index_conditions)
        modelled = await _model_index_conditions(connection)

    assert set(migrated) == partial
    assert migrated == modelled


async def test_downgrade_to_base_then_upgrade_again_works(migrated_engine: AsyncEngine) -> None:
    await downgrade(migrated_engine, "base")
    async with migrated_engine.connect() as connection:
        assert await _table_names(connection) == {"alembic_version"}
        if connection.dialect.name == "postgresql":
            guard = text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_log_refuse_change'")
            assert (await connection.execute(guard)).scalar_one() == 0
    assert (await schema_status(migrated_engine)).current is None

    await upgrade(migrated_engine)

    async with migrated_engine.connect() as connection:
        assert await _table_names(connection) == EVERY_TABLE
        assert await connection.run_sync(_schema_differences) == []


async def test_schema_status_reports_not_current_before_upgrade_and_current_after(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        before = await schema_status(engine)
        await upgrade(engine)
        after = await schema_status(engine)
    finally:
        await engine.dispose()

    assert before.current is None
    assert not before.is_current
    assert after.current == after.head == before.head
    assert after.is_current


async def test_times_come_back_as_aware_utc_datetimes(migrated_engine: AsyncEngine) -> None:
    written = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    async with migrated_engine.begin() as connection:
        await _insert(connection, TeamRow, name="payments", created_at=written)

    async with migrated_engine.connect() as connection:
        read = (await connection.execute(select(TeamRow.created_at))).scalar_one()
        # Stored as UTC: 23:30 UTC on the 28th sorts before midnight UTC on the 29th.
        earlier = select(TeamRow.name).where(TeamRow.created_at < datetime(2026, 3, 29, tzinfo=UTC))
        assert (await connection.execute(earlier)).scalars().all() == ["payments"]

    assert read == written
    assert read.tzinfo is UTC
    assert read == datetime(2026, 3, 28, 23, 30, 15, 123456, tzinfo=UTC)


async def test_naive_datetimes_are_refused_by_the_store(migrated_engine: AsyncEngine) -> None:
    with pytest.raises(StatementError, match="timezone-aware"):
        async with migrated_engine.begin() as connection:
            await _insert(connection, TeamRow, name="payments", created_at=datetime(2026, 3, 2, 9, 30))


async def test_a_second_active_deployment_for_the_same_service_and_environment_is_refused(
    migrated_engine: AsyncEngine,
) -> None:
    async with migrated_engine.begin() as connection:
        ids = await _service_environment_release(connection)
    first = await _add_deployment(migrated_engine, ids, "running")

    for active in ("pending_approval", "queued", "running"):
        with pytest.raises(IntegrityError):
            await _add_deployment(migrated_engine, ids, active)

    async with migrated_engine.begin() as connection:
        finish = update(DeploymentRow).where(DeploymentRow.id == first).values(status="succeeded")
        await connection.execute(finish)
    await _add_deployment(migrated_engine, ids, "queued")


async def test_finished_deployments_for_the_same_service_and_environment_are_allowed(
    migrated_engine: AsyncEngine,
) -> None:
    async with migrated_engine.begin() as connection:
        ids = await _service_environment_release(connection)

    for finished in ("succeeded", "succeeded", "failed", "cancelled"):
        await _add_deployment(migrated_engine, ids, finished)
    await _add_deployment(migrated_engine, ids, "running")

    async with migrated_engine.connect() as connection:
        count = (await connection.execute(select(DeploymentRow.id))).scalars().all()
    assert len(count) == 5


async def test_a_second_unreleased_lock_on_the_same_scope_is_refused(migrated_engine: AsyncEngine) -> None:
    async with migrated_engine.begin() as connection:
        environment_id = await _insert(connection, EnvironmentRow, name="production", created_at=NOW)
    lock = {"scope_key": "env:production", "environment_id": environment_id, "owner": "U0ALICE"}

    async with migrated_engine.begin() as connection:
        await _insert(connection, LockRow, **lock, created_at=NOW, released_at=NOW)
        await _insert(connection, LockRow, **lock, created_at=NOW, released_at=NOW)
        await _insert(connection, LockRow, **lock, created_at=NOW)

    with pytest.raises(IntegrityError):
        async with migrated_engine.begin() as connection:
            await _insert(connection, LockRow, **lock, created_at=NOW)


@only_postgres
async def test_postgresql_refuses_to_update_delete_or_truncate_the_audit_log(
    migrated_engine: AsyncEngine,
) -> None:
    async with migrated_engine.begin() as connection:
        entry = await _insert(
            connection,
            AuditRow,
            at=NOW,
            actor="U0ALICE",
            action="deployment.requested",
            source="slack",
            hash="a" * 64,
        )

    refused_statements: list[Executable] = [
        update(AuditRow).where(AuditRow.id == entry).values(actor="U0MALLORY"),
        delete(AuditRow).where(AuditRow.id == entry),
        text("TRUNCATE audit_log"),
    ]
    for statement in refused_statements:
        with pytest.raises(DBAPIError, match="audit_log is append-only"):
            async with migrated_engine.begin() as connection:
                await connection.execute(statement)

    async with migrated_engine.connect() as connection:
        actors = (await connection.execute(select(AuditRow.actor))).scalars().all()
    assert actors == ["U0ALICE"]

"""Fixtures shared by every test: a fresh, empty database per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.engine import create_engine, default_sqlite_url, normalise_url
from storage.schema import upgrade

TEST_DATABASE_URL = "TEST_DATABASE_URL"
REQUIRE_POSTGRES = "RELEASEBOT_REQUIRE_POSTGRES"
EXAMPLE_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
SKIP_NOTICE = f"PostgreSQL tests skipped: set {TEST_DATABASE_URL}={EXAMPLE_DATABASE_URL} to run them"
CONNECT_TIMEOUT_S = 5


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(TEST_DATABASE_URL)
    if url:
        shown = make_url(normalise_url(url)).render_as_string(hide_password=True)
        return f"PostgreSQL tests: will run against {shown} (one fresh database per test)"
    if _postgres_required():
        return f"PostgreSQL tests: required, but {TEST_DATABASE_URL} is not set: they will fail"
    return f"PostgreSQL tests: skipped ({TEST_DATABASE_URL} is not set)"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database that only this test uses."""
    if request.param == "sqlite":
        yield default_sqlite_url(tmp_path)
        return
    async with _fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def migrated_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url`` with every migration applied."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


def _postgres_required() -> bool:
    return os.environ.get(REQUIRE_POSTGRES) == "1"


def _maintenance_url() -> URL:
    url = os.environ.get(TEST_DATABASE_URL)
    if not url:
        if _postgres_required():
            pytest.fail(f"{TEST_DATABASE_URL} is not set but PostgreSQL tests are required")
        pytest.skip(SKIP_NOTICE)
    return make_url(normalise_url(url))


def _postgres_unreachable(url: URL, error: BaseException) -> NoReturn:
    where = url.render_as_string(hide_password=True)
    reason = f"PostgreSQL at {where} is unreachable ({type(error).__name__}: {error})"
    if _postgres_required():
        pytest.fail(f"{reason} but PostgreSQL tests are required")
    pytest.skip(f"{SKIP_NOTICE}; {reason}")


@asynccontextmanager
async def _fresh_postgres_database() -> AsyncIterator[str]:
    maintenance_url = _maintenance_url()
    name = f"releasebot_test_{uuid.uuid4().hex[:16]}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_async_engine(
        maintenance_url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": CONNECT_TIMEOUT_S},
    )
    try:
        unreachable: OSError | TimeoutError | None = None
        try:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except (OSError, TimeoutError) as error:
            unreachable = error
        if unreachable is not None:
            _postgres_unreachable(maintenance_url, unreachable)
        try:
            yield maintenance_url.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()

"""Async engines and the session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, StaticPool

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
SQLITE_BUSY_TIMEOUT_MS = 5_000
DEFAULT_SQLITE_FILENAME = "releasebot.db"

_DRIVER_ALIASES = {
    "sqlite": SQLITE_DRIVER,
    SQLITE_DRIVER: SQLITE_DRIVER,
    "postgres": POSTGRES_DRIVER,
    "postgresql": POSTGRES_DRIVER,
    POSTGRES_DRIVER: POSTGRES_DRIVER,
}


def normalise_url(url: str) -> str:
    """Return ``url`` with the async driver releasebot uses for its backend.

    ``sqlite://`` becomes ``sqlite+aiosqlite://``; ``postgres://`` and ``postgresql://`` become
    ``postgresql+asyncpg://``. Any other backend or driver is refused.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"not a database URL: {url!r}")
    return f"{_async_driver(scheme)}://{rest}"


def default_sqlite_url(data_dir: Path) -> str:
    """The SQLite database used when no URL is configured: ``<data_dir>/releasebot.db``."""
    path = (data_dir.expanduser() / DEFAULT_SQLITE_FILENAME).resolve()
    return f"{SQLITE_DRIVER}:///{quote(str(path))}"


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """Build the engine for ``url``.

    PostgreSQL gets a fixed pool of ``pool_size`` connections (no overflow: opening and closing
    connections under load costs throughput and latency). SQLite always gets exactly one connection,
    whatever ``pool_size`` says: concurrent writers would otherwise queue on the database lock,
    whereas a single connection serialises them cheaply in the pool.
    """
    parsed = _normalised(url)
    if parsed.drivername == SQLITE_DRIVER:
        return _create_sqlite_engine(parsed)
    return create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose loaded objects stay usable after commit (they are mapped to core values)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _async_driver(scheme: str) -> str:
    drivername = _DRIVER_ALIASES.get(scheme.lower())
    if drivername is None:
        raise ValueError(
            f"unsupported database URL scheme {scheme!r}: "
            "use sqlite:// (sqlite+aiosqlite) or postgresql:// (postgresql+asyncpg)"
        )
    return drivername


def _normalised(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername=_async_driver(parsed.drivername))


def _is_sqlite_memory(url: URL) -> bool:
    # Like SQLAlchemy: only these name a private in-memory database; a shared-cache URI such as
    # file::memory:?cache=shared&uri=true is pooled like a file.
    return (url.database or "") in ("", ":memory:")


def _create_sqlite_engine(url: URL) -> AsyncEngine:
    memory = _is_sqlite_memory(url)
    engine_args: dict[str, Any]
    if memory:
        engine_args = {"poolclass": StaticPool}
    else:
        database = url.database or ""
        if not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine_args = {"poolclass": AsyncAdaptedQueuePool, "pool_size": 1, "max_overflow": 0}
    engine = create_async_engine(url, **engine_args)
    _install_sqlite_hooks(engine, wal=not memory)
    return engine


def _install_sqlite_hooks(engine: AsyncEngine, *, wal: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # The driver's own transaction handling skips BEGIN before SELECT, DDL and SAVEPOINT; turn it
        # off and emit BEGIN ourselves (below) so transactions and savepoints behave as documented.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            # IMMEDIATE takes the write lock up front: a transaction that reads and then writes would
            # otherwise fail with "database is locked" when another process (a second replica or a CLI
            # command) writes in between, since SQLite cannot wait to upgrade a read lock.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

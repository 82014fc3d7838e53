"""Speed of ``releasebot audit verify`` (storage.audit.verify_chain) on SQLite and PostgreSQL.

    python -m bench.audit [--entries 100000] [--database-url postgresql+asyncpg://...] [--no-postgres]

Fills a fresh database with a valid hash chain of ``--entries`` entries (bulk inserted, the hashes
computed exactly as the store computes them), then times a full verification and prints entries/s.
SQLite runs in a temporary directory; PostgreSQL in a throwaway database created on the server named by
``--database-url`` (or TEST_DATABASE_URL) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from core.audit import entry_hash
from core.model import AuditEntry, AuditFilter, Source
from storage.audit import AuditRepository, verify_chain
from storage.engine import create_engine, default_sqlite_url, normalise_url, session_factory
from storage.rows import AuditRow
from storage.schema import upgrade

INSERT_BATCH = 5000
ACTIONS = ("deployment.request", "deployment.approve", "deployment.success", "release.create", "click")


def chain(count: int) -> list[dict[str, Any]]:
    """``count`` realistic rows, each linked to the previous one's hash."""
    rows: list[dict[str, Any]] = []
    prev: str | None = None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(count):
        entry = AuditEntry(
            actor=f"U0USER{n % 40:04d}",
            action=ACTIONS[n % len(ACTIONS)],
            target=f"D-{n // 5 + 1}",
            details={"service": f"svc-{n % 30}", "version": f"v1.{n % 100}.0", "environment": "production"},
            source=Source.SLACK,
            request_id=f"{n}.{n * 7}.trigger",
            at=start + timedelta(seconds=37 * n, microseconds=n % 1000),
        )
        digest = entry_hash(entry, prev)
        rows.append(
            {
                "at": entry.at,
                "actor": entry.actor,
                "action": entry.action,
                "target": entry.target,
                "details": entry.details,
                "source": entry.source.value,
                "request_id": entry.request_id,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


async def fill(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        for start in range(0, len(rows), INSERT_BATCH):
            await connection.execute(insert(AuditRow), rows[start : start + INSERT_BATCH])


# Listings a reader may ask for; a service nothing mentions is the worst case (every row is looked at).
SEARCHES = {
    "service svc-7": AuditFilter(service="svc-7"),
    "service nobody-has": AuditFilter(service="nobody-has"),
    "user + action": AuditFilter(actor="U0USER0007", action="deployment"),
}


async def measure(url: str, rows: list[dict[str, Any]]) -> tuple[int, float, dict[str, float]]:
    engine = create_engine(url, pool_size=2)
    try:
        await upgrade(engine)
        await fill(engine, rows)
        async with session_factory(engine)() as session:
            started = time.perf_counter()
            check = await verify_chain(session)
            elapsed = time.perf_counter() - started
            searches = {}
            for label, where in SEARCHES.items():
                started = time.perf_counter()
                await AuditRepository(session).search(where, limit=50)
                searches[label] = time.perf_counter() - started
    finally:
        await engine.dispose()
    if check.broken_id is not None:
        raise SystemExit(f"the benchmark chain is broken at A-{check.broken_id}: {check.problem}")
    return check.checked, elapsed, searches


@asynccontextmanager
async def throwaway_postgres(server_url: str) -> AsyncIterator[str]:
    server = make_url(normalise_url(server_url))
    name = f"releasebot_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


def line(backend: str, checked: int, elapsed: float, searches: dict[str, float]) -> str:
    found = ", ".join(f"{label} {seconds * 1000:.0f} ms" for label, seconds in searches.items())
    return (
        f"{backend:<11} verified {checked:>7,} entries in {elapsed:6.2f} s: {checked / elapsed:>9,.0f} entries/s\n"
        f"{'':<11} newest 50 matching: {found}"
    )


async def run(args: argparse.Namespace) -> None:
    print(
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}"
    )
    started = time.perf_counter()
    rows = chain(args.entries)
    print(f"built a chain of {len(rows):,} entries in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        print(line("SQLite", *await measure(default_sqlite_url(Path(tmp)), rows)))
    server_url = args.database_url or os.environ.get("TEST_DATABASE_URL")
    if args.no_postgres or not server_url:
        print("PostgreSQL  skipped (give --database-url or set TEST_DATABASE_URL)")
        return
    async with throwaway_postgres(server_url) as url:
        print(line("PostgreSQL", *await measure(url, rows)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--database-url", help="a PostgreSQL server to create a throwaway database on")
    parser.add_argument("--no-postgres", action="store_true")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

"""``releasebot audit verify`` and ``releasebot audit export`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from bot.cli import main
from core import audit
from core.model import Actor, Role
from storage.engine import create_engine, session_factory
from storage.rows import AuditRow
from storage.schema import upgrade
from storage.uow import unit_of_work_factory

DEV = Actor(user_id="U0DEV00001", role=Role.DEVELOPER)


async def _prepare(url: str, *, forge: bool = False) -> int | None:
    """Three entries written by the store, and with ``forge`` one inserted behind its back; returns its id."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        now = datetime.now(UTC)
        async with unit_of_work_factory(session_factory(engine), lambda: now)() as work:
            for n in range(3):
                details = {"service": "payments-api"}
                await audit.record(
                    work, actor=DEV, action="release.create", target=f"R-{n}", now=now, request_id=None, details=details
                )
            await work.commit()
        if not forge:
            return None
        async with engine.begin() as connection:
            last = (await connection.execute(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1))).scalar()
            row = {"at": now, "actor": "U0EVE00666", "action": "deployment.approve", "target": "D-1", "details": {}}
            forged = await connection.execute(
                insert(AuditRow)
                .values(**row, source="slack", request_id=None, prev_hash=last, hash="f" * 64)
                .returning(AuditRow.id)
            )
            return int(forged.scalar_one())
    finally:
        await engine.dispose()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return database_url


def test_verify_reports_an_intact_log_and_exits_0(cli_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_prepare(cli_database))
    assert _run(["audit", "verify"], capsys)[:2] == (0, "audit log intact: 3 entries\n")


def test_verify_names_the_forged_entry_and_exits_1(cli_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    forged = asyncio.run(_prepare(cli_database, forge=True))
    code, out, _ = _run(["audit", "verify"], capsys)
    assert (code, out) == (1, f"audit log BROKEN at entry A-{forged}: its content does not match its hash\n")


def test_export_writes_the_matching_entries_as_csv_and_records_the_export(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_prepare(cli_database))
    code, out, err = _run(["audit", "export", "--since", "1d", "--action", "release", "--limit", "2"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["id"], r["target"], r["actor"]) for r in rows] == [("2", "R-1", DEV.user_id), ("3", "R-2", DEV.user_id)]
    assert err.startswith("releasebot: exported 2 entries; SHA-256 ")
    assert _run(["audit", "verify"], capsys)[1] == "audit log intact: 4 entries\n"  # the export's own entry

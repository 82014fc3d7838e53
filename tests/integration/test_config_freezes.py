"""Recurring freezes from configuration files, on SQLite and PostgreSQL: created, kept, changed, cancelled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config_file import load_config
from core import freezes
from core.config_apply import ApplyReport, ConfigDeclaration, ConfigInvalid, apply_configuration
from core.model import Environment, FreezeWindow
from core.recurring_freezes import FreezeDeclaration
from storage.engine import session_factory
from storage.rows import AuditRow, FreezeRow
from tests.integration.test_config_apply import ADMIN, NOW, apply, audit_rows, unit_of_work

WEEKEND = '{cron: "0 18 * * fri", duration: 63h, timezone: Europe/Paris, reason: "weekend <!channel> freeze"}'
MONTH_END = '{cron: "0 0 28 * *", duration: 3d, reason: "closing the books"}'
STAGING = "  - name: staging\n    order: 1\n"


def production(*freezes: str) -> str:
    listed = "".join(f"\n      - {freeze}" for freeze in freezes)
    return f"  - name: production\n    order: 2\n    production: true\n    freezes:{listed or ' []'}\n"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def apply_file(engine: AsyncEngine, tmp_path: Path, *environments: str) -> ApplyReport:
    path = tmp_path / "releasebot.yml"
    path.write_text("environments:\n" + "".join(environments), encoding="utf-8")
    return await apply(engine, load_config(path, environ={}))


async def active(engine: AsyncEngine, at: datetime, environment: str = "production") -> FreezeWindow | None:
    async with unit_of_work(engine) as uow:
        return await freezes.active_freeze(uow, environment=environment, now=at)


async def freeze_rows(engine: AsyncEngine) -> list[FreezeRow]:
    async with session_factory(engine)() as session:
        return list((await session.execute(select(FreezeRow).order_by(FreezeRow.id))).scalars())


async def freeze_audits(engine: AsyncEngine) -> list[AuditRow]:
    return [entry for entry in await audit_rows(engine) if entry.action == "config.freeze"]


async def test_applying_creates_the_recurring_freeze_which_holds_inside_its_window_only(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    report = await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND))

    assert report.created["freeze"] == ["production: 0 18 * * fri"]
    assert report.summary() == "2 environments created, 1 freeze created"
    saturday = await active(migrated_engine, utc(2026, 3, 7, 12))
    assert saturday is not None
    assert (saturday.starts_at, saturday.ends_at) == (utc(2026, 3, 6, 17), utc(2026, 3, 9, 8))  # Paris is UTC+1
    assert freezes.describe_freeze(saturday) == "frozen until Mon 08:00 UTC: weekend &lt;!channel&gt; freeze"
    assert await active(migrated_engine, utc(2026, 3, 6, 16, 59)) is None  # Friday 17:59 in Paris
    assert await active(migrated_engine, utc(2026, 3, 9, 8)) is None  # Monday 09:00 in Paris: over
    assert await active(migrated_engine, utc(2026, 3, 7, 12), "staging") is None
    [entry] = await freeze_audits(migrated_engine)
    assert (entry.actor, entry.target, entry.request_id) == (ADMIN.user_id, "F-1", "config-apply-test")
    assert entry.details == {
        "change": "created",
        "fields": ["environment", "cron", "duration_s", "timezone", "reason"],
        "environment": "production",
        "cron": "0 18 * * fri",
        "duration_s": 63 * 3600,
        "timezone": "Europe/Paris",
        "reason": "weekend <!channel> freeze",
    }


async def test_applying_the_same_freezes_twice_changes_nothing(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND, MONTH_END))
    entries = len(await audit_rows(migrated_engine))

    report = await apply_file(
        migrated_engine, tmp_path, STAGING, production(MONTH_END, WEEKEND.replace("0 18", "0   18"))
    )

    assert report.summary() == "nothing to change"
    assert report.unchanged["freeze"] == ["production: 0 0 28 * *", "production: 0 18 * * fri"]
    assert len(await audit_rows(migrated_engine)) == entries
    assert [(row.cron, row.cancelled_at) for row in await freeze_rows(migrated_engine)] == [
        ("0 18 * * fri", None),
        ("0 0 28 * *", None),
    ]


async def test_changing_a_freeze_updates_it_in_place(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND))

    report = await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND.replace("63h", "60h")))

    assert report.updated["freeze"] == ["production: 0 18 * * fri"]
    assert report.summary() == "1 freeze updated, 2 unchanged"
    [row] = await freeze_rows(migrated_engine)
    assert row.duration_s == 60 * 3600
    assert await active(migrated_engine, utc(2026, 3, 9, 5)) is None  # now ends Monday 06:00 in Paris
    entry = (await freeze_audits(migrated_engine))[-1]
    assert (entry.target, entry.details["change"], entry.details["fields"]) == ("F-1", "updated", ["duration_s"])


async def test_a_freeze_taken_out_of_the_file_is_cancelled_once(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND, MONTH_END))

    report = await apply_file(migrated_engine, tmp_path, STAGING, production(MONTH_END))
    again = await apply_file(migrated_engine, tmp_path, STAGING, production(MONTH_END))

    assert report.cancelled["freeze"] == ["production: 0 18 * * fri"]
    assert report.summary() == "1 freeze cancelled, 3 unchanged"
    assert again.summary() == "nothing to change"
    assert await active(migrated_engine, utc(2026, 3, 7, 12)) is None
    weekend, month_end = await freeze_rows(migrated_engine)
    assert (weekend.cancelled_at, weekend.cancelled_by) == (NOW, ADMIN.user_id)
    assert month_end.cancelled_at is None
    [cancel] = [entry for entry in await freeze_audits(migrated_engine) if entry.details["change"] == "cancelled"]
    assert (cancel.target, cancel.details["cron"], cancel.details["environment"]) == (
        "F-1",
        "0 18 * * fri",
        "production",
    )


async def test_an_environment_named_without_freezes_loses_them_and_one_not_named_keeps_them(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    staging = STAGING + f"    freezes:\n      - {MONTH_END}\n"
    await apply_file(migrated_engine, tmp_path, staging, production(WEEKEND))

    report = await apply_file(migrated_engine, tmp_path, STAGING)

    assert report.cancelled["freeze"] == ["staging: 0 0 28 * *"]
    assert await active(migrated_engine, utc(2026, 3, 28, 12), "staging") is None
    assert await active(migrated_engine, utc(2026, 3, 7, 12)) is not None


async def test_a_freeze_declared_again_comes_back_as_created(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND))
    await apply_file(migrated_engine, tmp_path, STAGING, production())

    report = await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND))

    assert report.created["freeze"] == ["production: 0 18 * * fri"]
    assert [(row.id, row.cancelled_at) for row in await freeze_rows(migrated_engine)] == [(1, None)]
    assert await active(migrated_engine, utc(2026, 3, 7, 12)) is not None


async def test_one_off_freezes_are_not_the_files_business(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND))
    async with unit_of_work(migrated_engine) as uow:
        await freezes.freeze_environment(
            uow,
            actor=ADMIN,
            environment="production",
            starts_at=None,
            ends_at=NOW + timedelta(hours=2),
            reason="board demo",
            now=NOW,
            request_id=None,
        )
        await uow.commit()

    report = await apply_file(migrated_engine, tmp_path, STAGING, production())

    assert report.cancelled["freeze"] == ["production: 0 18 * * fri"]
    window = await active(migrated_engine, NOW)
    assert window is not None and window.freeze.reason == "board demo"


async def test_an_invalid_freeze_writes_nothing(migrated_engine: AsyncEngine) -> None:
    declaration = ConfigDeclaration(
        environments=[Environment(name="production", order=2)],
        freezes=[FreezeDeclaration(environment="production", cron="0 18 * * fri", duration_s=15 * 86400)],
    )

    with pytest.raises(ConfigInvalid) as raised:
        await apply(migrated_engine, declaration)

    assert raised.value.problems == ["environments[0].freezes[0].duration: must be from 1m to 14d (got 15d)"]
    assert await freeze_rows(migrated_engine) == []
    assert await audit_rows(migrated_engine) == []


async def test_two_applies_removing_the_same_freeze_cancel_it_once(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    await apply_file(migrated_engine, tmp_path, STAGING, production(WEEKEND))
    declaration = load_config(tmp_path / "releasebot.yml", environ={})
    declaration.freezes = []

    async def remove() -> ApplyReport:
        async with unit_of_work(migrated_engine) as uow:
            report = await apply_configuration(uow, actor=ADMIN, declaration=declaration, now=NOW, request_id=None)
            await asyncio.sleep(0.05)
            await uow.commit()
        return report

    reports = await asyncio.gather(remove(), remove())

    assert sorted(len(report.cancelled["freeze"]) for report in reports) == [0, 1]
    assert len([e for e in await freeze_audits(migrated_engine) if e.details["change"] == "cancelled"]) == 1

"""Applying configuration files to a real database (SQLite and PostgreSQL): all or nothing, idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config_cli import apply_config_file
from bot.config_file import load_config
from core.config_apply import ApplyReport, ConfigDeclaration, ConfigInvalid, apply_configuration
from core.errors import PermissionDenied
from core.model import Actor, Role, Service, Source, Team
from storage.engine import session_factory
from storage.rows import AuditRow, TeamRow
from storage.uow import SqlUnitOfWork, unit_of_work_factory

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "releasebot.yml"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor(user_id="U0ADMIN001", role=Role.ADMIN, name="root", source=Source.CLI)


@dataclass(frozen=True)
class Settings:
    database_url_resolved: str
    db_pool_size: int = 2


def unit_of_work(engine: AsyncEngine) -> SqlUnitOfWork:
    return unit_of_work_factory(session_factory(engine), lambda: NOW)()


async def apply(engine: AsyncEngine, declaration: ConfigDeclaration, *, actor: Actor = ADMIN) -> ApplyReport:
    async with unit_of_work(engine) as uow:
        report = await apply_configuration(
            uow, actor=actor, declaration=declaration, now=NOW, request_id="config-apply-test"
        )
        await uow.commit()
    return report


async def apply_text(engine: AsyncEngine, tmp_path: Path, text: str, **environ: str) -> ApplyReport:
    path = tmp_path / "releasebot.yml"
    path.write_text(text, encoding="utf-8")
    return await apply(engine, load_config(path, environ=environ))


async def audit_rows(engine: AsyncEngine) -> list[AuditRow]:
    async with session_factory(engine)() as session:
        return list((await session.execute(select(AuditRow).order_by(AuditRow.id))).scalars())


async def stored(engine: AsyncEngine) -> dict[str, Any]:
    async with unit_of_work(engine) as uow:
        return {
            "teams": {team.name: team for team in await uow.teams.list()},
            "environments": {env.name: env for env in await uow.environments.list()},
            "services": {service.name: service for service in await uow.services.list()},
            "users": {user.slack_user_id: user for user in await uow.users.list()},
        }


async def test_applying_the_example_creates_everything(migrated_engine: AsyncEngine) -> None:
    report = await apply(migrated_engine, load_config(EXAMPLE, environ={}))

    assert report.counts() == {
        "team": {"created": 2, "updated": 0, "cancelled": 0, "unchanged": 0},
        "environment": {"created": 2, "updated": 0, "cancelled": 0, "unchanged": 0},
        "freeze": {"created": 0, "updated": 0, "cancelled": 0, "unchanged": 0},
        "service": {"created": 2, "updated": 0, "cancelled": 0, "unchanged": 0},
        "user": {"created": 3, "updated": 0, "cancelled": 0, "unchanged": 0},
    }
    assert report.summary() == "2 teams created, 2 environments created, 2 services created, 3 users created"
    state = await stored(migrated_engine)
    payments = state["teams"]["payments"]
    assert (payments.slack_channel, payments.timezone, payments.digest_day) == (
        "payments-releases",
        "Europe/Paris",
        "mon",
    )
    production = state["environments"]["production"]
    assert production.is_production and production.order == 2
    assert production.policy.approvals == 2 and production.policy.requires_env == "staging"
    assert production.policy.approvers == ["admin", "developer", "U0ALICE001"]
    assert [(stage.name, stage.executor, stage.timeout_s) for stage in production.stages] == [
        ("build", "command", 600),
        ("ci", "webhook", 1800),
    ]
    assert state["services"]["search-indexer"].team == "search"
    assert state["services"]["search-indexer"].slack_channel == "C0SEARCH01"
    alice = state["users"]["U0ALICE001"]
    assert (alice.role, alice.name, alice.team) == (Role.ADMIN, "alice", "payments")


async def test_applying_the_same_file_twice_changes_nothing_and_audits_nothing_the_second_time(
    migrated_engine: AsyncEngine,
) -> None:
    await apply(migrated_engine, load_config(EXAMPLE, environ={}))
    entries_after_first = len(await audit_rows(migrated_engine))

    report = await apply(migrated_engine, load_config(EXAMPLE, environ={}))

    assert not report.changed
    assert report.summary() == "nothing to change"
    assert sum(len(names) for names in report.unchanged.values()) == 9
    assert len(await audit_rows(migrated_engine)) == entries_after_first == 9


async def test_each_change_is_audited_once_with_its_new_values(migrated_engine: AsyncEngine) -> None:
    await apply(migrated_engine, load_config(EXAMPLE, environ={}))

    entries = await audit_rows(migrated_engine)

    assert [(entry.action, entry.target) for entry in entries] == [
        ("config.team", "team:payments"),
        ("config.team", "team:search"),
        ("config.environment", "env:staging"),
        ("config.environment", "env:production"),
        ("config.service", "service:payments-api"),
        ("config.service", "service:search-indexer"),
        ("config.user", "user:U0ALICE001"),
        ("config.user", "user:U0BOB00002"),
        ("config.user", "user:U0CAROL003"),
    ]
    assert {(entry.actor, entry.source, entry.request_id) for entry in entries} == {
        ("U0ADMIN001", "cli", "config-apply-test")
    }
    production = entries[3].details
    assert production["change"] == "created"
    assert production["is_production"] is True
    assert production["policy"]["approvals"] == 2
    assert [stage["name"] for stage in production["stages"]] == ["build", "ci"]
    assert entries[6].details == {
        "change": "created",
        "fields": ["role", "name", "team"],
        "role": "admin",
        "name": "alice",
        "team": "payments",
    }


async def test_changing_one_field_updates_only_that_object(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    await apply_text(migrated_engine, tmp_path, example)
    before = len(await audit_rows(migrated_engine))

    changed = example.replace('    channel: "<#C0SEARCH01|search-releases>"', '    channel: "#search-team"')
    assert changed != example
    report = await apply_text(migrated_engine, tmp_path, changed)

    assert report.updated == {"team": [], "environment": [], "freeze": [], "service": ["search-indexer"], "user": []}
    assert report.created == {"team": [], "environment": [], "freeze": [], "service": [], "user": []}
    assert report.summary() == "1 service updated, 8 unchanged"
    entries = (await audit_rows(migrated_engine))[before:]
    assert [(entry.action, entry.target) for entry in entries] == [("config.service", "service:search-indexer")]
    assert entries[0].details["change"] == "updated"
    assert entries[0].details["fields"] == ["slack_channel"]
    assert entries[0].details["slack_channel"] == "search-team"
    assert (await stored(migrated_engine))["services"]["search-indexer"].slack_channel == "search-team"


async def test_a_policy_change_updates_only_that_environment(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    await apply_text(migrated_engine, tmp_path, example)

    report = await apply_text(migrated_engine, tmp_path, example.replace("approvals: 2 ", "approvals: 1 "))

    assert report.updated["environment"] == ["production"]
    assert report.summary() == "1 environment updated, 8 unchanged"
    assert (await stored(migrated_engine))["environments"]["production"].policy.approvals == 1
    assert (await audit_rows(migrated_engine))[-1].details["fields"] == ["policy"]


async def test_a_reference_unknown_to_the_file_and_the_store_is_refused_and_nothing_is_written(
    migrated_engine: AsyncEngine,
) -> None:
    declaration = ConfigDeclaration(
        teams=[Team(name="payments"), Team(name="search")],
        services=[
            Service(name="payments-api", team="payments", slack_channel="payments"),
            Service(name="ledger", team="payments", slack_channel="payments"),
            Service(name="refunds", team="paymnts", slack_channel="payments"),
        ],
    )

    with pytest.raises(ConfigInvalid) as raised:
        await apply(migrated_engine, declaration)

    assert raised.value.problems == [
        "services[2].team: unknown team 'paymnts' (declared teams: payments, search); did you mean 'payments'?"
    ]
    state = await stored(migrated_engine)
    assert state["teams"] == {} and state["services"] == {}
    assert await audit_rows(migrated_engine) == []


async def test_a_service_may_belong_to_a_team_already_stored(migrated_engine: AsyncEngine) -> None:
    await apply(migrated_engine, ConfigDeclaration(teams=[Team(name="payments", slack_channel="payments")]))

    report = await apply(
        migrated_engine,
        ConfigDeclaration(services=[Service(name="payments-api", team="payments", slack_channel="payments")]),
    )

    assert report.created["service"] == ["payments-api"]
    assert (await stored(migrated_engine))["services"]["payments-api"].team == "payments"


async def test_a_required_environment_may_already_be_stored(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    await apply_text(migrated_engine, tmp_path, "environments:\n  - name: staging\n")

    report = await apply_text(
        migrated_engine, tmp_path, "environments:\n  - {name: production, policy: {requires: staging}}\n"
    )

    assert report.created["environment"] == ["production"]


async def test_objects_the_file_does_not_name_are_left_alone(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    await apply(migrated_engine, load_config(EXAMPLE, environ={}))

    report = await apply_text(migrated_engine, tmp_path, "teams:\n  - {name: search, channel: '#search-releases'}\n")

    assert report.summary() == "nothing to change"
    assert set((await stored(migrated_engine))["teams"]) == {"payments", "search"}


async def test_a_user_name_and_team_left_out_keep_the_stored_ones(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    await apply(migrated_engine, load_config(EXAMPLE, environ={}))

    report = await apply_text(migrated_engine, tmp_path, "users:\n  - {id: U0BOB00002, role: admin}\n")

    assert report.updated["user"] == ["U0BOB00002"]
    bob = (await stored(migrated_engine))["users"]["U0BOB00002"]
    assert (bob.role, bob.name, bob.team) == (Role.ADMIN, "bob", "payments")
    assert (await audit_rows(migrated_engine))[-1].details["fields"] == ["role"]


async def test_a_webhook_secret_is_stored_kept_when_no_longer_named_and_never_audited(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    text = "environments:\n  - {name: production, webhook_secret_env: CI_SECRET}\n"
    await apply_text(migrated_engine, tmp_path, text, CI_SECRET="first-secret-value")

    report = await apply_text(migrated_engine, tmp_path, "environments:\n  - name: production\n")
    rotated = await apply_text(migrated_engine, tmp_path, text, CI_SECRET="second-secret-value")

    assert report.summary() == "nothing to change"
    assert rotated.updated["environment"] == ["production"]
    assert (await stored(migrated_engine))["environments"]["production"].webhook_secret == "second-secret-value"
    entries = await audit_rows(migrated_engine)
    assert [entry.details["webhook_secret"] for entry in entries] == ["set", "set"]
    assert entries[-1].details["fields"] == ["webhook_secret"]
    assert all("secret-value" not in str(entry.details) for entry in entries)


async def test_only_admins_may_apply_configuration(migrated_engine: AsyncEngine) -> None:
    developer = Actor(user_id="U0BOB00002", role=Role.DEVELOPER, source=Source.CLI)

    with pytest.raises(PermissionDenied):
        await apply(migrated_engine, load_config(EXAMPLE, environ={}), actor=developer)

    assert (await stored(migrated_engine))["teams"] == {}


# --- the command --------------------------------------------------------------------------------------


async def test_the_command_applies_a_file_and_then_has_nothing_to_change(
    database_url: str, migrated_engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await apply_config_file(Settings(database_url), EXAMPLE) == 0
    first = capsys.readouterr().out
    assert await apply_config_file(Settings(database_url), EXAMPLE) == 0
    second = capsys.readouterr().out

    assert first.splitlines()[0] == (
        f"Applied {EXAMPLE}: 2 teams created, 2 environments created, 2 services created, 3 users created"
    )
    assert "  + team payments" in first.splitlines()
    assert second == f"Applied {EXAMPLE}: nothing to change\n"
    assert {entry.actor for entry in await audit_rows(migrated_engine)} == {"cli"}


async def test_the_command_reports_every_problem_and_writes_nothing(
    database_url: str, migrated_engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "releasebot.yml"
    path.write_text(
        "teams:\n  - {name: payments, channel: '#payments'}\n"
        "services:\n  - {name: api, team: paymnts, channel: '#payments'}\n",
        encoding="utf-8",
    )

    assert await apply_config_file(Settings(database_url), path) == 2

    assert capsys.readouterr().err.splitlines() == [
        f"releasebot: {path} is invalid:",
        "  services[0].team: unknown team 'paymnts' (declared teams: payments); did you mean 'payments'?",
    ]
    async with session_factory(migrated_engine)() as session:
        assert await session.scalar(select(func.count()).select_from(TeamRow)) == 0
    assert await audit_rows(migrated_engine) == []


async def test_the_command_rejects_an_invalid_file_without_opening_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "releasebot.yml"
    path.write_text("teams:\n  - {name: Payments, chanel: '#x'}\nusers:\n  - {id: U0ALICE001, role: boss}\n")
    database = tmp_path / "never.db"

    assert await apply_config_file(Settings(f"sqlite+aiosqlite:///{database}"), path) == 2

    assert capsys.readouterr().err.splitlines() == [
        f"releasebot: {path} is invalid:",
        "  teams[0].name: must be 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter "
        "or digit (got 'Payments')",
        "  teams[0].chanel: unknown key; did you mean 'channel'? (allowed: name, channel, timezone, digest)",
        "  users[0].role: must be a role: admin, developer, analyst, viewer (got 'boss')",
    ]
    assert not database.exists()


async def test_the_command_migrates_sqlite_but_refuses_a_postgresql_schema_that_is_not_current(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await apply_config_file(Settings(database_url), EXAMPLE)

    if database_url.startswith("sqlite"):
        assert code == 0
        assert capsys.readouterr().out.startswith(f"Applied {EXAMPLE}: 2 teams created")
    else:
        assert code == 1
        assert capsys.readouterr().err.strip().endswith("run `releasebot db upgrade` first")

"""The command line: the offline shell, read-only reports, schema checks."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from bot.cli import main
from bot.console import run_shell
from bot.runtime import Runtime, SchemaOutOfDate
from bot.settings import load_settings


def settings_for(database_url: str):  # type: ignore[no-untyped-def]
    return load_settings(_env_file=None, database_url=database_url, admins="U0ALICE001")


SCRIPT = """\
/release create payments-api v1.0.0 commit abc1234 notes "first <!channel> cut"
/release deploy payments-api v1.0.0 to staging
as dave
/release deploy payments-api v1.0.0 to production
as bob
/release status
/release frobnicate
"""


async def test_shell_runs_a_scripted_session_end_to_end(database_url: str) -> None:
    out = io.StringIO()
    code = await run_shell(settings_for(database_url), as_user="alice", demo=True, out=out, lines=io.StringIO(SCRIPT))
    text = out.getvalue()
    assert code == 0
    assert text.startswith("Created a demo workspace the first time")
    assert "Created R-1: *payments-api* `v1.0.0` at `abc1234`.\n    >first <!channel> cut" in text
    assert (
        "#payments-releases releasebot:\n    :white_check_mark: *D-1* payments-api `v1.0.0` → *staging*: deployed"
        in text
    )
    assert "dave> /release deploy payments-api v1.0.0 to production\n(only you) releasebot:\n" in text
    assert "You can't request deployments: your role is viewer." in text
    assert "*payments-api*  staging: `v1.0.0`  ·  production: —" in text
    assert "I don't know the command `frobnicate`." in text


async def test_shell_does_not_recreate_the_demo_workspace(database_url: str) -> None:
    await run_shell(settings_for(database_url), as_user="alice", demo=True, out=io.StringIO(), lines=io.StringIO(""))
    out = io.StringIO()
    await run_shell(settings_for(database_url), as_user="bob", demo=True, out=out, lines=io.StringIO(""))
    assert "Created a demo workspace" not in out.getvalue()


async def test_reports_list_deployments_and_status_as_json(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_shell(
        settings_for(database_url), as_user="alice", demo=True, out=io.StringIO(), lines=io.StringIO(SCRIPT)
    )
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir("/")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        await asyncio.to_thread(main, ["deployments", "--service", "payments-api", "--json"])
    assert exited.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [
        (r["reference"], r["service"], r["version"], r["environment"], r["status"], r["requester"]) for r in rows
    ] == [("D-1", "payments-api", "v1.0.0", "staging", "success", "U0ALICE001")]
    assert rows[0]["approvers"] == [] and rows[0]["finished_at"].endswith("Z")
    with pytest.raises(SystemExit):
        await asyncio.to_thread(main, ["status", "--json"])
    status = json.loads(capsys.readouterr().out)
    payments = next(s for s in status if s["service"] == "payments-api")
    assert payments["environments"]["staging"]["version"] == "v1.0.0"
    assert payments["environments"]["production"]["version"] is None


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_serve_refuses_an_out_of_date_postgres_schema(database_url: str) -> None:
    runtime = Runtime(settings_for(database_url))
    with pytest.raises(SchemaOutOfDate, match="run `releasebot db upgrade` first"):
        await runtime.start(deliver=False)


async def test_invalid_settings_stop_with_one_line_per_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELEASEBOT_PORT", "abc")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(SystemExit) as exited:
        await asyncio.to_thread(main, ["status", "--json"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("releasebot: invalid settings:\n")
    assert "RELEASEBOT_PORT" in err and "LOG_FORMAT" in err and "Traceback" not in err

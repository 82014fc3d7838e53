"""``releasebot import`` then ``releasebot metrics``: a hand-computed week of history, end to end."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from bot.dora_cli import Progress
from storage.rows import DeploymentRow, OutboxRow

WEEK = ["--start", "2026-11-02T00:00:00Z", "--end", "2026-11-09T00:00:00Z"]


def _line(
    event: str,
    version: str,
    sha: str | None,
    committed: str | None,
    deployed: str,
    finished: str | None,
    status: str,
    *,
    service: str = "payments-api",
    team: str = "payments",
    environment: str = "production",
    kind: str = "deploy",
    incident: tuple[str, str | None] | None = None,
) -> str:
    record: dict[str, Any] = {
        "event_id": event,
        "service": service,
        "team": team,
        "environment": environment,
        "version": version,
        "commit_sha": sha,
        "committed_at": committed,
        "deployed_at": deployed,
        "finished_at": finished,
        "status": status,
        "kind": kind,
    }
    if incident is not None:
        record["incident_opened_at"], record["incident_resolved_at"] = incident
    return json.dumps(record)


# The week of 2026-11-02 (UTC) for payments-api, production unless said otherwise.
HISTORY = [
    # lead time 34 h 10 min = 123000 s
    _line("d1", "v1.0", "aaaaaaa", "2026-11-01T00:00:00Z", "2026-11-02T10:00:00Z", "2026-11-02T10:10:00Z", "success"),
    # a failure and its failed retry: one episode from 12:05, restored by d4 at 14:20 (8100 s)
    _line("d2", "v1.1", "bbbbbbb", "2026-11-03T00:00:00Z", "2026-11-03T12:00:00Z", "2026-11-03T12:05:00Z", "failed"),
    _line("d3", "v1.1", "bbbbbbb", None, "2026-11-03T12:30:00Z", "2026-11-03T12:40:00Z", "failed", kind="retry"),
    # lead time 80 min = 4800 s; given in another offset
    _line(
        "d4",
        "v1.2",
        "ccccccc",
        "2026-11-03T14:00:00+01:00",
        "2026-11-03T15:00:00+01:00",
        "2026-11-03T15:20:00+01:00",
        "success",
        kind="fix",
    ),
    _line(
        "d5", "v1.2", "ccccccc", None, "2026-11-03T09:00:00Z", "2026-11-03T09:10:00Z", "success", environment="staging"
    ),
    # a success with an incident: failure from the incident's opening (11:00), lead time 33 h 10 min = 119400 s,
    # incident 90 min = 5400 s
    _line(
        "d6",
        "v1.3",
        "ddddddd",
        "2026-11-04T00:00:00Z",
        "2026-11-05T09:00:00Z",
        "2026-11-05T09:10:00Z",
        "success",
        incident=("2026-11-05T11:00:00Z", "2026-11-05T12:30:00Z"),
    ),
    # the rollback to v1.2 restores it at 11:40 (2400 s); v1.2 is already in production: no lead time
    _line("d7", "v1.2", "ccccccc", None, "2026-11-05T11:30:00Z", "2026-11-05T11:40:00Z", "success", kind="rollback"),
    # rolled back at 09:30, restored by d9 at 10:30 (3600 s); d9 has no commit time
    _line("d8", "v1.4", "eeeeeee", None, "2026-11-06T09:00:00Z", "2026-11-06T09:30:00Z", "rolled_back"),
    _line("d9", "v1.5", "fffffff", None, "2026-11-06T10:00:00Z", "2026-11-06T10:30:00Z", "success"),
    # failed one hour before the window's end and never restored
    _line("d10", "v1.6", "1111111", "2026-11-08T00:00:00Z", "2026-11-08T22:00:00Z", "2026-11-08T23:00:00Z", "failed"),
    _line("d11", "v1.7", "2222222", "2026-11-08T20:00:00Z", "2026-11-08T23:30:00Z", None, "in_progress"),
    # another team's service
    _line(
        "s1",
        "v9",
        None,
        None,
        "2026-11-04T08:00:00Z",
        "2026-11-04T08:05:00Z",
        "success",
        service="search-api",
        team="search",
    ),
]


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0)


@pytest.fixture
def cli(migrated_engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncEngine:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir("/")
    return migrated_engine


async def test_import_then_metrics_json_gives_the_hand_computed_figures(
    cli: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(HISTORY) + "\n")
    assert await asyncio.to_thread(_run, ["import", str(history)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Imported 12 deployments from history.jsonl in ")
    assert "0 were imported before and skipped; 9 new releases, 1 incident." in out
    assert "Created 2 teams: payments, search." in out
    assert "Created 2 services: payments-api, search-api." in out

    assert await asyncio.to_thread(_run, ["metrics", "--scope", "team:payments", *WEEK, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["window"] == {
        "start": "2026-11-02T00:00:00Z",
        "end": "2026-11-09T00:00:00Z",
        "days": 7.0,
        "tz": "UTC",
    }
    assert result["scope"] == {"kind": "team", "name": "payments"}
    frequency = result["deployment_frequency"]
    assert (frequency["successful_deployments"], frequency["per_day"], frequency["per_week"]) == (5, 0.714286, 5.0)
    assert frequency["deploy_days"] == 4  # 2, 3, 5 and 6 November
    assert frequency["classification"]["lookback_weeks_used"] == 1  # the data begin on 2 November
    assert frequency["classification"]["fourkeys_class"] == "insufficient_data"
    assert result["lead_time"] == {
        "samples": 3,
        "median_s": 119400.0,
        "p90_s": 122280.0,  # 119400 + 0.8 * 3600
        "excluded_missing_committed_at": 1,
        "excluded_negative": 0,
        "band_2023": "high",
    }
    assert result["change_failure_rate"] == {
        "finished_deployments": 9,
        "failed_deployments": 5,
        "by_cause": {"failed": 3, "rolled_back": 1, "incident": 1},
        "rate": 0.555556,
        "band_2023": "low",
    }
    assert result["time_to_restore"] == {
        "restored_episodes": 3,
        "median_s": 3600.0,
        "p90_s": 7200.0,  # 3600 + 0.8 * 4500
        "open_failures_at_window_end": 1,
        "oldest_open_failure_age_s": 3600.0,
        "band_2023": "high",
    }
    assert result["incident_duration"] == {"resolved_incidents": 1, "median_s": 5400.0, "p90_s": 5400.0}
    assert result["in_flight_at_window_end"] == 1

    assert await asyncio.to_thread(_run, ["metrics", "--scope", "org", *WEEK, "--json"]) == 0
    org = json.loads(capsys.readouterr().out)
    assert org["deployment_frequency"]["successful_deployments"] == 6
    assert org["lead_time"]["excluded_missing_committed_at"] == 2

    async with cli.connect() as connection:  # history sets nothing off: no Slack message is queued
        assert await connection.scalar(select(func.count()).select_from(OutboxRow)) == 0
        running = select(DeploymentRow.status).where(DeploymentRow.event_id == "d11")
        assert await connection.scalar(running) == "running"


async def test_metrics_prints_a_readable_table(
    cli: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(HISTORY))
    assert await asyncio.to_thread(_run, ["import", str(history)]) == 0
    capsys.readouterr()
    assert await asyncio.to_thread(_run, ["metrics", "--scope", "service:payments-api", *WEEK, "--tz", "+05:45"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["Scope", "service", "payments-api"]
    assert table[1].endswith("2026-11-02T00:00:00Z to 2026-11-09T00:00:00Z (7 days, +05:45)")
    assert "55.6% (5 of 9: 3 failed, 1 rolled back, 1 with an incident)  [low]" in table[4]
    assert "median 1.0 h, p90 2.0 h (3 restored); open at the end: 1, oldest 1.0 h  [high]" in table[5]


async def test_a_bad_file_is_refused_line_by_line_and_nothing_is_stored(
    cli: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "bad.jsonl"
    lines = [HISTORY[0], HISTORY[1].replace("2026-11-03T12:05:00Z", "2026-11-03T12:05:00"), "{not json", HISTORY[3]]
    history.write_text("\n".join(lines) + "\n")
    assert await asyncio.to_thread(_run, ["import", str(history)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        'line 2: `finished_at` "2026-11-03T12:05:00" has no UTC offset: add Z or an offset such as +01:00',
        "line 3: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        "releasebot: bad.jsonl: 2 bad lines: nothing was imported. Fix the lines named and import the file again.",
    ]
    async with cli.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(DeploymentRow)) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--scope", "team:payments", "--start", "2026-11-02T00:00:00", "--end", "2026-11-09T00:00:00Z"],
            "releasebot: The start `2026-11-02T00:00:00` has no UTC offset",
        ),
        (["--scope", "team:nobody", *WEEK], "releasebot: There is no team `nobody`. There are no teams yet"),
        (["--scope", "everyone", *WEEK], "releasebot: `everyone` is not a scope."),
        (["--scope", "org", *WEEK, "--tz", "Mars/Olympus"], "releasebot: `Mars/Olympus` is not a time zone."),
        (["--scope", "org", "--end", "2026-11-09T00:00:00Z"], "releasebot: --start is required."),
        (
            ["--scope", "org", "--start", "2026-11-09T00:00:00Z", "--end", "2026-11-02T00:00:00Z"],
            "releasebot: The window is empty",
        ),
    ],
)
async def test_bad_metrics_arguments_get_one_clear_line_and_exit_2(
    cli: AsyncEngine, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert await asyncio.to_thread(_run, ["metrics", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message)
    assert len(captured.err.splitlines()) == 1 and "Traceback" not in captured.err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_is_drawn_on_a_terminal_only_and_cleared(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(HISTORY * 200) + "\n")
    terminal, pipe = _Terminal(), io.StringIO()
    with history.open("rb") as handle:
        drawn = Progress(handle, "history.jsonl", terminal)
        assert sum(1 for _ in drawn.lines()) == 2400
        drawn.clear()
    assert "importing history.jsonl [##############################] 100.0% 2,400 lines" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r")
    with history.open("rb") as handle:
        assert sum(1 for _ in Progress(handle, "history.jsonl", pipe).lines()) == 2400
    assert pipe.getvalue() == ""


async def test_a_missing_file_gets_one_line_and_exit_2(
    cli: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(_run, ["import", str(tmp_path / "nowhere.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err == f"releasebot: cannot read {tmp_path / 'nowhere.jsonl'}: No such file or directory\n"

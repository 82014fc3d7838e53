"""Lines of a history import, checked one by one (``core.dora_import.HistoryChecker``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.dora_import_lines import HistoryChecker, LineProblemError


def line(**changes: Any) -> str:
    record: dict[str, Any] = {
        "event_id": "ev-1",
        "service": "payments-api",
        "team": "payments",
        "environment": "production",
        "version": "v1.0",
        "deployed_at": "2026-11-01T10:00:00+01:00",
        "finished_at": "2026-11-01T09:05:00Z",
        "status": "success",
    }
    record.update(changes)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


def problem(text: str | bytes, number: int = 1) -> str:
    with pytest.raises(LineProblemError) as raised:
        HistoryChecker().check(number, text)
    return str(raised.value.problem)


def test_a_minimal_line_is_normalised_to_utc_lower_case_names_and_defaults() -> None:
    record = HistoryChecker().check(3, line(service=" Payments-API ", commit_sha="ABCDEF1"))
    assert record is not None
    assert (record.line, record.service, record.commit_sha, record.kind) == (3, "payments-api", "abcdef1", "deploy")
    assert record.deployed_at == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert record.committed_at is None and record.incident_opened_at is None


def test_the_digest_is_the_content_whatever_the_offsets_or_key_order() -> None:
    first = HistoryChecker().check(1, line())
    second = HistoryChecker().check(
        9, line(deployed_at="2026-11-01T09:00:00Z", finished_at="2026-11-01T04:05:00-05:00")
    )
    third = HistoryChecker().check(1, line(status="failed"))
    assert first is not None and second is not None and third is not None
    assert first.digest == second.digest != third.digest


def test_blank_lines_and_a_byte_order_mark_are_accepted() -> None:
    checker = HistoryChecker()
    assert checker.check(1, "\ufeff" + line()) is not None
    assert checker.check(2, "   \n") is None
    assert checker.check(3, b"\n") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"event_id": "\xff"}', "line 1: not UTF-8 text (byte 15)"),
        ("{", "line 1: not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
        ('"just text"', 'line 1: expected a JSON object, found "just text"'),
        (line(event_id="a\tb"), 'line 1: `event_id` "a\\tb" must be 1 to 200 printable characters'),
        (line(event_id=True), "line 1: `event_id` must be a string, not true"),
        (line(team=...), "line 1: `team` is missing"),
        (line(deployed_at=None), "line 1: `deployed_at` is null: give a time like 2026-11-02T09:30:00Z"),
        (line(deployed_at=1730000000), "line 1: `deployed_at` must be an ISO 8601 time string, not 1730000000"),
        (
            line(deployed_at="yesterday"),
            'line 1: `deployed_at` "yesterday" is not an ISO 8601 time: write it like 2026-11-02T09:30:00Z',
        ),
        (line(version="v 1"), 'line 1: `version` "v 1" is not a valid version: use up to 64 letters, digits, . _ + -'),
        (line(commit_sha="xyz"), 'line 1: `commit_sha` "xyz" is not a commit: use 7 to 64 hexadecimal digits'),
        (line(kind="yolo"), 'line 1: `kind` is "yolo": use one of deploy, retry, fix, hotfix, rollback, redeploy'),
        (
            line(status="in_progress"),
            "line 1: `finished_at` is set but `status` is in_progress: give the final status, or make finished_at null",
        ),
        (
            line(status="in_progress", finished_at=None, incident_opened_at="2026-11-01T10:00:00Z"),
            "line 1: an incident is attributed to a deployment still in progress: attribute it once it has finished",
        ),
        (
            line(environment="x" * 41),
            'line 1: `environment` "' + "x" * 41 + '" is not a valid name: use 1 to 40 '
            "lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit",
        ),
    ],
)
def test_each_problem_names_the_line_and_what_to_write(text: str | bytes, expected: str) -> None:
    assert problem(text) == expected


def test_values_quoted_back_are_shortened_and_control_characters_escaped() -> None:
    shown = problem(line(version="\x1b[31m" + "v" * 100))
    assert shown.startswith('line 1: `version` "\\u001b[31mvvvv') and "…" in shown and "\x1b" not in shown

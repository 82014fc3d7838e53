"""``/release audit``: its grammar, its filters, and the escaping of what it shows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core import grammar
from core.audit_log import Since, csv_row, describe, parse_since
from core.errors import Invalid, UsageError
from core.model import AuditEntry, AuditFilter, DeploymentSignoff, Source
from core.verbs import audit as av
from handlers.audit_blocks import entry_line, listing, summary
from tests.support import blockkit

NOW = datetime(2026, 11, 22, 18, 30, tzinfo=UTC)


def test_audit_alone_lists_the_default_number_of_entries_unfiltered() -> None:
    parsed = grammar.parse("audit")
    assert parsed == av.AuditList()
    assert isinstance(parsed, av.AuditList) and parsed.where(NOW) == AuditFilter()


def test_filters_come_in_any_order_and_export_takes_the_same_ones() -> None:
    parsed = grammar.parse(
        "audit export limit 500 since 7d action Deployment user <@U0BOB00002|bob> service payments-api"
    )
    assert parsed == av.AuditExport(
        service="payments-api", user="U0BOB00002", action="deployment", since=Since(seconds=7 * 86400), limit=500
    )
    assert isinstance(parsed, av.AuditExport)
    assert parsed.where(NOW) == AuditFilter(
        service="payments-api",
        actor="U0BOB00002",
        action="deployment",
        since=datetime(2026, 11, 15, 18, 30, tzinfo=UTC),
    )


def test_since_a_day_starts_at_midnight_utc() -> None:
    assert parse_since("2026-11-01") == Since(day=date(2026, 11, 1))
    assert Since(day=date(2026, 11, 1)).start(NOW) == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("audit limit 0", "`0` is not a limit: give a whole number from 1 to 50"),
        ("audit limit 51", "`/release audit export` sends more as a CSV file"),
        ("audit export limit 100001", "`100001` is not a limit: give a whole number from 1 to 100000."),
        ("audit since 2026-13-01", "`2026-13-01` is not a date on the calendar."),
        ("audit since last-week", "`last-week` is neither a date nor a duration"),
        ("audit user bob", "`bob` is not a Slack user."),
        ("audit action *", "`*` is not an action"),
        ("audit service Payments!", "is not a valid service name"),
        ("audit limit 5 limit 6", "`limit` is given twice."),
        ("audit everything", "Unexpected `everything`."),
    ],
)
def test_bad_filters_get_a_precise_usage_message(text: str, message: str) -> None:
    with pytest.raises(UsageError) as refused:
        grammar.parse(text)
    assert message in refused.value.message
    assert refused.value.hint is not None and refused.value.hint.startswith("Usage: `/release audit [export]")


def test_a_bare_number_is_not_a_since() -> None:
    with pytest.raises(Invalid):
        parse_since("7")


def _entry(**changes: object) -> AuditEntry:
    values: dict[str, object] = {
        "actor": "U0BOB00002",
        "action": "release.create",
        "target": "D-7",
        "details": {"service": "payments-api", "notes": "hi <!channel> & <http://evil.example|docs>", "gone": None},
        "source": Source.SLACK,
        "request_id": "t-1",
        "at": NOW,
        "id": 12,
        "hash": "ab" * 32,
        "prev_hash": None,
    }
    return AuditEntry(**{**values, **changes})  # type: ignore[arg-type]


def test_a_listing_line_escapes_every_user_text() -> None:
    line = entry_line(_entry(target="<!here>"))
    assert line.startswith(
        f"`A-12` <!date^{int(NOW.timestamp())}^{{date_short_pretty}} {{time}}|2026-11-22 18:30 UTC> "
    )
    assert "<@U0BOB00002> *release.create* &lt;!here&gt;: service=payments-api, notes=hi &lt;!channel&gt; &amp;" in line
    assert "<!channel>" not in line and "<http" not in line and "gone" not in line


def test_a_summary_is_shortened_before_it_is_escaped() -> None:
    shown = summary({"notes": "&" * 500})
    assert shown.endswith("…") and "&amp" in shown and not shown.endswith("&amp…")
    assert shown.replace("&amp;", "&").count("&") == 99 - len("notes=")


def test_the_listing_is_valid_block_kit_and_names_its_filters() -> None:
    text, blocks = listing([_entry(id=n) for n in range(50, 0, -1)], AuditFilter(service="payments-api"))
    assert text.startswith("*Audit log*: the 50 newest entries (service payments-api)\n`A-50` ")
    assert blockkit.validate("message", {"blocks": blocks}) == []
    assert len(blocks) < 50


def test_filters_are_described_with_user_text_escaped() -> None:
    where = AuditFilter(service="a&b", actor="U0BOB00002", action="deploy<", since=NOW)
    assert describe(where) == "service a&amp;b, by <@U0BOB00002>, action `deploy&lt;…`, since 2026-11-22 18:30 UTC"


def test_a_csv_row_carries_the_deployment_signoff_for_deployment_targets_only() -> None:
    signoffs = {7: DeploymentSignoff("U0BOB00002", ["U0ALICE001", "U0CAROL003"], [{"kind": "freeze"}])}
    row = csv_row(_entry(), signoffs)
    assert row[:3] == ["12", "2026-11-22T18:30:00Z", "U0BOB00002"]
    assert row[-3:] == ["U0BOB00002", "U0ALICE001 U0CAROL003", '[{"kind":"freeze"}]']
    assert csv_row(_entry(target="R-7"), signoffs)[-3:] == ["", "", ""]

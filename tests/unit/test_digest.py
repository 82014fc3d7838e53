"""The weekly digest, pure parts: which week, when it is due, its content and its Block Kit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core import grammar
from core.digest import (
    DigestLists,
    DigestPeriod,
    FailedDeployment,
    OpenFailure,
    SlowChange,
    compose,
    hours,
    last_full_week,
    percent,
)
from core.digests import due_period
from core.dora import Fact, Scope, ScopeKind, Window, reference_metrics
from core.errors import UsageError
from core.verbs.digest import PreviewDigest
from handlers.digest_blocks import digest_message, preview
from tests.support import blockkit

TEAM = Scope(ScopeKind.TEAM, "payments")
GRACE = timedelta(hours=24)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_week_is_monday_to_monday_in_the_teams_zone() -> None:
    week = last_full_week(at("2026-11-04T10:00"), "Europe/Paris")

    assert week == DigestPeriod(at("2026-10-25T23:00"), at("2026-11-01T23:00"), "Europe/Paris")


def test_at_monday_midnight_the_week_that_just_ended_is_the_last_full_week() -> None:
    week = last_full_week(at("2026-11-02T00:00"), "UTC")

    assert (week.start, week.end) == (at("2026-10-26T00:00"), at("2026-11-02T00:00"))
    assert week.before() == DigestPeriod(at("2026-10-19T00:00"), at("2026-10-26T00:00"), "UTC")


def test_a_week_in_which_clocks_go_back_lasts_169_hours() -> None:
    week = last_full_week(at("2026-10-27T08:00"), "Europe/Paris")

    assert (week.start, week.end) == (at("2026-10-18T22:00"), at("2026-10-25T23:00"))
    assert week.end - week.start == timedelta(hours=169)


def test_a_week_in_which_clocks_go_forward_lasts_167_hours() -> None:
    spring = last_full_week(at("2026-03-31T12:00"), "Europe/Paris")

    assert (spring.start, spring.end) == (at("2026-03-22T23:00"), at("2026-03-29T22:00"))
    assert spring.end - spring.start == timedelta(hours=167)


def test_the_digest_is_due_at_its_time_in_the_teams_zone() -> None:
    nine_in_paris = at("2026-11-02T08:00")  # Monday 09:00 CET

    due = due_period("mon", "09:00", "Europe/Paris", now=nine_in_paris, grace=GRACE)

    assert due == last_full_week(nine_in_paris, "Europe/Paris")
    assert due_period("mon", "09:00", "Europe/Paris", now=nine_in_paris - timedelta(minutes=1), grace=GRACE) is None


def test_a_run_missed_while_down_is_due_within_the_grace_period_only() -> None:
    scheduled = at("2026-11-02T08:00")

    late = due_period("mon", "09:00", "Europe/Paris", now=scheduled + timedelta(hours=23, minutes=59), grace=GRACE)
    too_late = due_period("mon", "09:00", "Europe/Paris", now=scheduled + timedelta(hours=24, minutes=1), grace=GRACE)

    assert late is not None and late.end == at("2026-11-01T23:00")
    assert too_late is None


def test_another_digest_day_reports_the_last_full_week_before_it() -> None:
    friday = at("2026-11-06T17:30")

    due = due_period("fri", "17:30", "UTC", now=friday, grace=GRACE)

    assert due is not None and (due.start, due.end) == (at("2026-10-26T00:00"), at("2026-11-02T00:00"))


def test_durations_and_rates_round_half_up_as_displayed() -> None:
    assert hours(5 * 3600 + 40 * 60) == "5.7 h"
    assert hours(3600 * 36.75) == "36.8 h"
    assert hours(60) == "under 0.1 h"
    assert hours(None) == "—"
    assert percent(0.044444) == "4.4%"
    assert percent(0.0005) == "0.1%"


def _fact(n: int, service: str, status: str, finished: str, **extra: Any) -> Fact:
    fields: dict[str, Any] = {
        "team": "payments",
        "environment": "production",
        "is_production": True,
        "commit_sha": f"sha{n}",
        "committed_at": None,
        "deployed_at": at(finished) - timedelta(minutes=10),
        "finished_at": at(finished),
        "status": status,
    }
    fields.update(extra)
    return Fact(n, service, **fields)


FACTS = [
    _fact(0, "ledger", "success", "2026-10-21T10:00", committed_at=at("2026-10-20T10:00")),
    _fact(1, "payments-api", "success", "2026-10-30T12:00", committed_at=at("2026-10-30T10:00")),
    _fact(2, "payments-api", "success", "2026-11-03T10:00", committed_at=at("2026-11-02T08:00")),
    _fact(3, "payments-api", "failed", "2026-11-04T10:10", commit_sha="sha4", committed_at=at("2026-11-04T06:00")),
    _fact(4, "payments-api", "success", "2026-11-04T11:40", committed_at=at("2026-11-04T06:00")),
    _fact(5, "ledger", "rolled_back", "2026-11-05T10:30", committed_at=at("2026-11-01T10:30")),
    _fact(6, "ledger", "success", "2026-11-05T11:00", commit_sha="sha0", committed_at=at("2026-10-20T10:00")),
]


def _metrics(scope: Scope, period: DigestPeriod) -> dict[str, Any]:
    return reference_metrics(FACTS, scope, Window(period.start, period.end, period.tz))


def _digest(stored: dict[str, Any] | None = None) -> dict[str, Any]:
    week = last_full_week(at("2026-11-09T09:00"), "UTC")
    services = [(name, _metrics(Scope(ScopeKind.SERVICE, name), week)) for name in ("payments-api", "ledger")]
    lists = DigestLists(
        failures=[
            FailedDeployment(3, "payments-api", "v1.2", at("2026-11-04T10:10"), "failed"),
            FailedDeployment(5, "ledger", "v<7>", at("2026-11-05T10:30"), "rolled_back"),
        ],
        open_failures=[OpenFailure("ledger", 5, "v<7>", at("2026-11-05T10:30"), 1)],
        slowest=[SlowChange(2, "payments-api", "v1.1", 26 * 3600.0), SlowChange(4, "payments-api", "v1.2", 20400.0)],
    )
    return compose(
        scope=TEAM,
        period=week,
        current=_metrics(TEAM, week),
        previous=_metrics(TEAM, week.before()),
        stored_previous=stored,
        services=services,
        lists=lists,
    )


def test_the_digest_shows_the_four_keys_against_the_week_before() -> None:
    digest = _digest()

    assert [(k["title"], k["value"], k["band"]) for k in digest["keys"]] == [
        ("Deployment frequency", "3 successful deployments (0.4 a day) on 3 days", "no band yet"),
        ("Lead time for changes", "median 15.8 h, p90 24.0 h over 2 releases", "elite"),
        ("Change failure rate", "40.0% (2 of 5 deployments: 1 failed, 1 rolled back)", "low"),
        ("Time to restore", "median 1.0 h, p90 1.4 h over 2 restored failures", "high"),
    ]
    assert [k["previous"] for k in digest["keys"]] == [
        {"value": "1 successful deployment (0.1 a day) on 1 day", "band": "no band yet"},
        {"value": "median 2.0 h, p90 2.0 h over 1 release", "band": "elite"},
        {"value": "0.0% (0 of 1 deployment)", "band": "elite"},
        {"value": "no failure restored", "band": None},
    ]
    assert all(k["restated"] is None for k in digest["keys"])


def test_the_message_lists_services_failures_open_failures_and_slowest_lead_times() -> None:
    text, blocks = digest_message(_digest())

    assert blockkit.validate("message", {"blocks": blocks, "text": text}) == []
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections[4] == (
        "*By service*\n```"
        "service       deploys  lead time  failure rate  restore\n"
        "payments-api        2     15.8 h   33.3% (1/3)    1.5 h\n"
        "ledger              1          —   50.0% (1/2)    0.5 h```"
    )
    assert sections[5] == (
        "*Failures and rollbacks*\n"
        "• D-3 *payments-api* `v1.2` failed, Wed 4 Nov 10:10\n"
        "• D-5 *ledger* `v&lt;7&gt;` rolled back, Thu 5 Nov 10:30"
    )
    assert (
        sections[6]
        == "*Open failures*\nNone at the end of the week.\n• *ledger* since D-5 `v&lt;7&gt;`, Thu 5 Nov 10:30 (1 failed deployment)"
    )
    assert (
        sections[7]
        == "*Slowest lead times*\n• *payments-api* `v1.1` (D-2): 26.0 h\n• *payments-api* `v1.2` (D-4): 5.7 h"
    )
    assert blocks[-1]["elements"][0]["text"].startswith("Lead time runs from the oldest commit of each release")


def test_a_week_already_sent_shows_its_stored_figures_and_the_restated_ones_beside_them() -> None:
    sent_before = {
        "keys": [
            {"key": "change_failure_rate", "value": "0.0% (0 of 1 deployment)", "band": "elite"},
            {"key": "lead_time", "value": "median 1.0 h, p90 1.0 h over 1 release", "band": "elite"},
        ]
    }

    keys = {k["key"]: k for k in _digest(sent_before)["keys"]}

    assert keys["change_failure_rate"]["previous"] == {"value": "0.0% (0 of 1 deployment)", "band": "elite"}
    assert keys["change_failure_rate"]["restated"] is None
    assert keys["lead_time"]["previous"]["value"] == "median 1.0 h, p90 1.0 h over 1 release"
    assert keys["lead_time"]["restated"] == {"value": "median 2.0 h, p90 2.0 h over 1 release", "band": "elite"}
    section = digest_message(_digest(sent_before))[1][3]["text"]["text"]
    assert section.endswith(
        "Week before: median 1.0 h, p90 1.0 h over 1 release, *elite* · "
        "restated: median 2.0 h, p90 2.0 h over 1 release, *elite*"
    )


def test_the_preview_says_nothing_was_posted_and_where_the_digest_goes() -> None:
    text, blocks = preview(_digest(), channel="C0PAYMENTS1", day="mon", time_of_day="09:00", tz="Europe/Paris")

    assert blockkit.validate("message", {"blocks": blocks, "text": text}) == []
    assert blocks[0]["elements"][0]["text"] == (
        ":eyes: Preview, only for you: nothing was posted or stored. "
        "It is posted in <#C0PAYMENTS1> every Monday at 09:00 (Europe/Paris)."
    )


def test_a_big_team_fits_in_one_message() -> None:
    week = last_full_week(at("2026-11-09T09:00"), "UTC")
    metrics = _metrics(TEAM, week)
    many = [FailedDeployment(n, f"service-{n}", "v1", at("2026-11-04T10:10"), "failed") for n in range(40)]
    digest = compose(
        scope=TEAM,
        period=week,
        current=metrics,
        previous=metrics,
        stored_previous=None,
        services=[(f"service-{n:02d}-with-a-rather-long-name", metrics) for n in range(30)],
        lists=DigestLists(failures=many, slowest=[SlowChange(n, "s", "v", 1.0) for n in range(9)]),
    )

    text, blocks = digest_message(digest)

    assert blockkit.validate("message", {"blocks": blocks, "text": text}) == []
    services = blocks[6]["text"]["text"]
    assert services.count("\n") == 12 and services.endswith("…and 20 more services.")
    assert "service-00-with-a-rathe…" in services
    assert blocks[7]["text"]["text"].endswith("…and 30 more.")
    assert blocks[9]["text"]["text"].count("•") == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("digest preview", PreviewDigest()),
        ("digest preview team payments", PreviewDigest("payments")),
        ("DIGEST Preview TEAM Payments", PreviewDigest("payments")),
    ],
)
def test_the_preview_command_parses(text: str, expected: PreviewDigest) -> None:
    assert grammar.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("digest", "Missing `preview`."),
        ("digest send", "Expected `preview`, got `send`: the digest itself is posted on its schedule."),
        ("digest preview team", "Missing a value after `team`."),
        ("digest preview team Pay/ments", "`Pay/ments` is not a valid team name"),
        ("digest preview payments", "Unexpected `payments`."),
    ],
)
def test_a_wrong_preview_command_says_what_to_type(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        grammar.parse(text)

    assert caught.value.message.startswith(message)
    assert caught.value.hint == "Usage: `/release digest preview [team <team>]`"

"""``/release metrics``: its grammar, its periods and weeks, humanised numbers, trends and sparklines."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from core import grammar
from core.errors import UsageError
from core.metrics_report import (
    Direction,
    Key,
    Trend,
    humanise,
    percent,
    period_windows,
    sparkline,
    trend,
    weekly_values,
    weekly_windows,
)
from core.permissions import Permission
from core.verbs.metrics import MetricsScope, ShowMetrics

NOW = datetime(2026, 11, 4, 15, 30, tzinfo=UTC)  # a Wednesday
USAGE = "Usage: `/release metrics [org | team <team> | service <service>] [last 7d|30d|90d]`"

# The spec's example object, as ``core.dora_queries.metrics`` returns it.
EXAMPLE: dict[str, Any] = {
    "spec": "dora-bot-spec/1.0",
    "window": {"start": "2026-10-05T14:30:00Z", "end": "2026-11-04T15:30:00Z", "days": 30.041667, "tz": "Europe/Paris"},
    "scope": {"kind": "team", "name": "payments"},
    "deployment_frequency": {
        "successful_deployments": 43,
        "per_day": 1.431345,
        "per_week": 10.019417,
        "deploy_days": 20,
        "classification": {
            "lookback_weeks_used": 12,
            "fourkeys_class": "daily",
            "band_2023": "high",
            "median_deploy_days_per_week": 4.5,
            "weeks_with_deploy": 12,
            "median_deployed_weeks_per_4w_block": 4.0,
            "median_deploy_days_per_4w_block": 18.0,
        },
    },
    "lead_time": {
        "samples": 42,
        "median_s": 141323.0,
        "p90_s": 536974.4,
        "excluded_missing_committed_at": 0,
        "excluded_negative": 0,
        "band_2023": "high",
    },
    "change_failure_rate": {
        "finished_deployments": 45,
        "failed_deployments": 2,
        "by_cause": {"failed": 2, "rolled_back": 0, "incident": 0},
        "rate": 0.044444,
        "band_2023": "elite",
    },
    "time_to_restore": {
        "restored_episodes": 2,
        "median_s": 5575.0,
        "p90_s": 5831.0,
        "open_failures_at_window_end": 0,
        "oldest_open_failure_age_s": None,
        "band_2023": "high",
    },
    "incident_duration": {"resolved_incidents": 0, "median_s": None, "p90_s": None},
    "in_flight_at_window_end": 0,
}


def result(**changes: Any) -> dict[str, Any]:
    """The example with changes: ``lead_time__median_s=1.0`` sets ``["lead_time"]["median_s"]``."""
    found = copy.deepcopy(EXAMPLE)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = found
        for part in parents:
            target = target[part]
        target[leaf] = copy.deepcopy(value)
    return found


EMPTY = result(
    deployment_frequency__successful_deployments=0,
    deployment_frequency__per_day=0.0,
    deployment_frequency__per_week=0.0,
    deployment_frequency__deploy_days=0,
    deployment_frequency__classification={
        "lookback_weeks_used": 2,
        "fourkeys_class": "insufficient_data",
        "band_2023": "insufficient_data",
        "median_deploy_days_per_week": None,
        "weeks_with_deploy": None,
        "median_deployed_weeks_per_4w_block": None,
        "median_deploy_days_per_4w_block": None,
    },
    lead_time__samples=0,
    lead_time__median_s=None,
    lead_time__p90_s=None,
    lead_time__band_2023=None,
    change_failure_rate__finished_deployments=0,
    change_failure_rate__failed_deployments=0,
    change_failure_rate__by_cause={"failed": 0, "rolled_back": 0, "incident": 0},
    change_failure_rate__rate=None,
    change_failure_rate__band_2023=None,
    time_to_restore__restored_episodes=0,
    time_to_restore__median_s=None,
    time_to_restore__p90_s=None,
    time_to_restore__band_2023=None,
)


def usage_error(text: str) -> str:
    with pytest.raises(UsageError) as caught:
        grammar.parse(text)
    assert caught.value.hint == USAGE
    return caught.value.message


# ---------------------------------------------------------------------------------------------------
# Grammar


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("metrics", ShowMetrics(MetricsScope.MINE, None, 30)),
        ("metrics last 7d", ShowMetrics(MetricsScope.MINE, None, 7)),
        ("metrics org", ShowMetrics(MetricsScope.ORG, None, 30)),
        ("METRICS Org LAST 90D", ShowMetrics(MetricsScope.ORG, None, 90)),
        ("metrics team payments", ShowMetrics(MetricsScope.TEAM, "payments", 30)),
        ("metrics team Payments last 30d", ShowMetrics(MetricsScope.TEAM, "payments", 30)),
        ("metrics service payments-api last 90d", ShowMetrics(MetricsScope.SERVICE, "payments-api", 90)),
        ("metrics last 7d service payments-api", ShowMetrics(MetricsScope.SERVICE, "payments-api", 7)),
        ("metrics last 30days", ShowMetrics(MetricsScope.MINE, None, 30)),
    ],
)
def test_metrics_takes_an_optional_scope_and_period_in_either_order(text: str, parsed: ShowMetrics) -> None:
    assert grammar.parse(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics last 14d", "`14d` is not a period I can show: use `last 7d`, `last 30d` or `last 90d`."),
        ("metrics last week", "`week` is not a period I can show: use `last 7d`, `last 30d` or `last 90d`."),
        ("metrics last", "Missing the period after `last`: use `last 7d`, `last 30d` or `last 90d`."),
        ("metrics last 7d last 30d", "`last` is given twice: give one period."),
        ("metrics 7d", "Write the period after `last`: `last 7d`."),
        ("metrics team", "Missing the team name after `team`, like `team payments`."),
        ("metrics service last 7d", "Missing the service name after `service`, like `service payments-api`."),
        ("metrics team payments service payments-api", "Give one scope: `org`, `team <team>` or `service <service>`."),
        ("metrics org team payments", "Give one scope: `org`, `team <team>` or `service <service>`."),
        (
            "metrics payments",
            "Unexpected `payments`: give `org`, `team <team>` or `service <service>`, then `last <period>`.",
        ),
        (
            "metrics team Pay<!channel>",
            "`Pay&lt;!channel&gt;` is not a valid team name: use 1 to 63 lower-case letters, digits, `.`, `_` or "
            "`-`, starting with a letter or digit.",
        ),
        (
            "metrics last <@U123>",
            "`&lt;@U123&gt;` is not a period I can show: use `last 7d`, `last 30d` or `last 90d`.",
        ),
    ],
)
def test_a_bad_metrics_command_says_what_was_wrong(text: str, message: str) -> None:
    assert usage_error(text) == message


def test_metrics_is_for_everyone_who_may_see_metrics_and_the_help_says_what_it_shows_by_default() -> None:
    verb = grammar.VERBS["metrics"]
    assert verb.permission is Permission.SEE_METRICS
    assert "your team's (the whole organisation's if you are in no team) over the last 30 days" in verb.summary


# ---------------------------------------------------------------------------------------------------
# Periods and weeks


def test_a_period_ends_now_and_the_previous_one_has_the_same_length_in_local_days() -> None:
    current, previous = period_windows(NOW, 30, "Europe/Paris")
    # 30 local days back crosses the end of summer time (25 Oct): 16:30 CET now, 17:30 CEST then.
    assert (current.start, current.end) == (datetime(2026, 10, 5, 14, 30, tzinfo=UTC), NOW)
    assert (previous.start, previous.end) == (datetime(2026, 9, 5, 14, 30, tzinfo=UTC), current.start)
    assert current.tz == previous.tz == "Europe/Paris"
    seven, before = period_windows(NOW, 7, "UTC")
    assert (seven.start, before.start) == (
        datetime(2026, 10, 28, 15, 30, tzinfo=UTC),
        datetime(2026, 10, 21, 15, 30, tzinfo=UTC),
    )


def test_the_weeks_are_the_twelve_whole_weeks_before_this_one_from_monday_midnight_local() -> None:
    weeks = weekly_windows(NOW, "Europe/Paris")
    assert len(weeks) == 12
    assert weeks[-1].end == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Monday 2 Nov 00:00 CET
    assert weeks[-1].start == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    assert weeks[-2].start == datetime(2026, 10, 18, 22, 0, tzinfo=UTC)  # that week lasts 169 hours
    assert weeks[0].start == datetime(2026, 8, 9, 22, 0, tzinfo=UTC)
    assert all(a.end == b.start for a, b in pairwise(weeks))
    monday_midnight = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    assert weekly_windows(monday_midnight, "UTC")[-1].end == monday_midnight


# ---------------------------------------------------------------------------------------------------
# Numbers, trends and sparklines


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0 s"),
        (42.4, "42 s"),
        (59.4, "59 s"),
        (59.6, "1 min"),
        (840.0, "14 min"),
        (3569.0, "59 min"),
        (3570.0, "1.0 h"),
        (11520.0, "3.2 h"),
        (86219.0, "23.9 h"),
        (86220.0, "1.0 d"),
        (141323.0, "1.6 d"),
        (536974.4, "6.2 d"),
    ],
)
def test_durations_read_in_the_largest_sensible_unit(seconds: float, text: str) -> None:
    assert humanise(seconds) == text


def test_rates_read_to_a_tenth_of_a_percentage_point() -> None:
    assert [percent(v) for v in (0.044444, 0.0, 1.0, 0.00049, 0.00051)] == ["4.4%", "0.0%", "100.0%", "0.0%", "0.1%"]


def test_a_trend_says_which_way_by_how_much_and_whether_that_is_better_for_the_key() -> None:
    before = result(
        deployment_frequency__successful_deployments=31,
        lead_time__median_s=152123.0,
        change_failure_rate__rate=0.02,
        time_to_restore__median_s=5580.0,
    )
    assert trend(Key.DEPLOYMENT_FREQUENCY, EXAMPLE, before) == Trend(Direction.UP, "+12", "31", True)
    assert trend(Key.LEAD_TIME, EXAMPLE, before) == Trend(Direction.DOWN, "-3.0 h", "1.8 d", True)
    assert trend(Key.CHANGE_FAILURE_RATE, EXAMPLE, before) == Trend(Direction.UP, "+2.4 pp", "2.0%", False)
    # 5 seconds shorter reads as a change; identical figures do not.
    assert trend(Key.TIME_TO_RESTORE, EXAMPLE, before) == Trend(Direction.DOWN, "-5 s", "1.6 h", True)
    assert trend(Key.TIME_TO_RESTORE, EXAMPLE, EXAMPLE) == Trend(Direction.FLAT, "no change", "1.5 h", None)
    fewer = result(deployment_frequency__successful_deployments=50)
    assert trend(Key.DEPLOYMENT_FREQUENCY, EXAMPLE, fewer) == Trend(Direction.DOWN, "-7", "50", False)
    tiny = result(change_failure_rate__rate=0.0445)
    assert trend(Key.CHANGE_FAILURE_RATE, EXAMPLE, tiny) == Trend(Direction.FLAT, "no change", "4.5%", None)


def test_no_trend_without_data_on_either_side() -> None:
    assert trend(Key.LEAD_TIME, EXAMPLE, EMPTY) == Trend(None, None, None, None)
    assert trend(Key.LEAD_TIME, EMPTY, EXAMPLE) == Trend(None, None, "1.6 d", None)


def test_a_sparkline_scales_from_zero_to_the_highest_week_and_marks_weeks_without_data() -> None:
    assert sparkline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, None, 0.1]) == "▁▂▃▄▅▆▇█·▂"
    assert sparkline([10.0, 1.5, 1.4]) == "█▃▂"
    assert sparkline([None, None]) == "··"
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([7.0, 7.0]) == "██"


def test_weeks_before_the_first_production_activity_have_no_deployment_data_and_later_empty_weeks_count_zero() -> None:
    quiet = result(
        deployment_frequency__successful_deployments=0,
        change_failure_rate__finished_deployments=0,
        change_failure_rate__rate=None,
        lead_time__median_s=None,
    )
    busy = result(deployment_frequency__successful_deployments=4)
    weeks = [quiet, quiet, busy, quiet, busy]
    assert weekly_values(Key.DEPLOYMENT_FREQUENCY, weeks) == [None, None, 4.0, 0.0, 4.0]
    assert weekly_values(Key.CHANGE_FAILURE_RATE, weeks) == [None, None, 0.044444, None, 0.044444]
    in_flight_only = result(
        deployment_frequency__successful_deployments=0,
        change_failure_rate__finished_deployments=0,
        in_flight_at_window_end=1,
    )
    assert weekly_values(Key.DEPLOYMENT_FREQUENCY, [quiet, in_flight_only, busy]) == [None, 0.0, 4.0]

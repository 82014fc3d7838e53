"""DORA inputs from people (scope, instants, zones, windows), type-7 percentiles (S9) and the bands (S7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from core.dora import (
    BAND_TABLE,
    Scope,
    ScopeKind,
    band_of,
    lookback_start,
    make_window,
    parse_instant,
    parse_scope,
    parse_zone,
    percentile,
    to_json,
)
from core.errors import UsageError
from tests.unit.test_dora_support import WEEK, at


def usage(call: object, *args: object) -> UsageError:
    assert callable(call)
    with pytest.raises(UsageError) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("org", Scope(ScopeKind.ORG)),
        (" ORG ", Scope(ScopeKind.ORG)),
        ("team:payments", Scope(ScopeKind.TEAM, "payments")),
        ("Team:Payments", Scope(ScopeKind.TEAM, "payments")),
        ("service:payments-api", Scope(ScopeKind.SERVICE, "payments-api")),
    ],
)
def test_a_scope_is_org_a_team_or_a_service(text: str, scope: Scope) -> None:
    assert parse_scope(text) == scope


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("everyone", "`everyone` is not a scope."),
        ("team", "The scope `team` needs a team name after a colon."),
        ("team:", "The scope `team:` needs a team name after a colon."),
        ("service: ", "The scope `service: ` needs a service name after a colon."),
        ("service:Payments API", "`Payments API` is not a valid service name: use 1 to 63 lower-case letters"),
        ("org:acme", "`org:acme` is not a scope: `org` takes no name."),
        ("team:<!channel>", "`&lt;!channel&gt;` is not a valid team name"),
    ],
)
def test_a_bad_scope_says_what_is_wrong_and_how_to_write_one(text: str, message: str) -> None:
    error = usage(parse_scope, text)
    assert error.message.startswith(message)
    assert error.hint == "Write `org`, `team:NAME` or `service:NAME`, like `team:payments`."


def test_instants_carry_an_offset_and_come_back_in_utc() -> None:
    assert parse_instant("2026-11-02T10:00:00Z") == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert parse_instant("2026-11-02T10:00+05:45") == datetime(2026, 11, 2, 4, 15, tzinfo=UTC)
    assert parse_instant("2026-11-01T21:30:00.250-03:30") == datetime(2026, 11, 2, 1, 0, 0, 250000, tzinfo=UTC)
    assert parse_instant("2026-11-02T10:00:00+01:00").tzinfo is UTC


def test_an_instant_without_an_offset_is_refused_saying_so() -> None:
    error = usage(parse_instant, "2026-11-02T10:00")
    assert error.message == "The time `2026-11-02T10:00` has no UTC offset: add `Z` or an offset such as `+01:00`."
    assert "2026-11-02T00:00:00Z" in (error.hint or "")
    assert usage(lambda: parse_instant("2026-11-02", what="--start")).message == (
        "The --start `2026-11-02` has no UTC offset: add `Z` or an offset such as `+01:00`."
    )


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00Z", "2026-11-02T25:00Z", ""])
def test_an_instant_that_is_not_iso_8601_is_refused(text: str) -> None:
    assert usage(parse_instant, text).message == f"The time `{text}` is not an ISO 8601 date and time."


def test_zones_are_utc_iana_names_or_fixed_offsets() -> None:
    assert parse_zone("UTC") is UTC
    assert parse_zone("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert parse_zone("+09:00") == timezone(timedelta(hours=9))
    assert parse_zone("-03:30") == timezone(-timedelta(hours=3, minutes=30))
    assert parse_zone("+0545") == timezone(timedelta(hours=5, minutes=45))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mars/Olympus", "`Mars/Olympus` is not a time zone."),
        ("Europe", "`Europe` is not a time zone."),
        ("../../etc/passwd", "`../../etc/passwd` is not a time zone."),
        ("+09:07", "`+09:07` is not a usable offset: write whole quarter hours up to 18:00"),
        ("+19:00", "`+19:00` is not a usable offset"),
        ("", "`` is not a time zone."),
    ],
)
def test_a_bad_zone_is_refused_with_the_forms_that_work(text: str, message: str) -> None:
    error = usage(parse_zone, text)
    assert error.message.startswith(message)
    assert error.hint == "Use `UTC`, an IANA zone like `Europe/Berlin`, or a fixed offset like `+09:00` or `-03:30`."


def test_a_window_is_kept_in_utc_with_the_zone_as_given() -> None:
    window = make_window(at("2026-11-02T00:00+01:00"), at("2026-11-09T00:00+01:00"), "Europe/Berlin")
    assert (window.start, window.end) == (datetime(2026, 11, 1, 23, tzinfo=UTC), datetime(2026, 11, 8, 23, tzinfo=UTC))
    assert (window.tz, window.data_start) == ("Europe/Berlin", None)


def test_a_window_must_start_before_it_ends() -> None:
    error = usage(make_window, at("2026-11-09T00:00Z"), at("2026-11-09T00:00Z"))
    assert error.message == (
        "The window is empty: its start (2026-11-09T00:00:00Z) is not before its end (2026-11-09T00:00:00Z)."
    )
    assert usage(make_window, at("2026-11-02T00:00Z"), at("2026-11-09T00:00Z"), "Nowhere").message == (
        "`Nowhere` is not a time zone."
    )
    assert "out of range" in usage(make_window, at("1969-12-31T00:00Z"), at("2026-11-09T00:00Z")).message


def test_percentiles_follow_type_7() -> None:
    assert percentile([], 0.5) is None
    assert percentile([42.0], 0.5) == 42.0  # one sample gives that sample
    assert percentile([42.0], 0.9) == 42.0
    assert percentile([20.0, 10.0], 0.5) == 15.0  # 10 + 0.5 * (20 - 10)
    assert percentile([20.0, 10.0], 0.9) == 19.0  # 10 + 0.9 * (20 - 10)
    five = [7200.0, 600.0, 3600.0, 1200.0, 1800.0]
    assert percentile(five, 0.5) == 1800.0  # rank 2 exactly
    assert percentile(five, 0.9) == 5760.0  # rank 3.6: 3600 + 0.6 * (7200 - 3600)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.9) == 3.7  # rank 2.7: 3 + 0.7 * 1


def test_bands_follow_the_2023_table_on_unrounded_values() -> None:
    assert BAND_TABLE == "dora-2023"
    hour, day = 3600, 86400
    assert [band_of("lead_time", v) for v in (day - 0.001, day, 7 * day - 1, 7 * day, 30 * day)] == [
        "elite",
        "high",
        "high",
        "medium",
        "low",
    ]
    assert [band_of("time_to_restore", v) for v in (hour - 0.001, hour, day, 7 * day - 0.001, 7 * day)] == [
        "elite",
        "high",
        "medium",
        "medium",
        "low",
    ]
    rates = (0.0, Fraction(1, 20), Fraction(50001, 1000000), 0.1, Fraction(3, 20), Fraction(151, 1000))
    assert [band_of("change_failure_rate", r) for r in rates] == ["elite", "elite", "high", "high", "medium", "low"]
    assert band_of("lead_time", None) is None
    assert band_of("change_failure_rate", None) is None
    assert band_of("deployment_frequency", 5) == "elite"
    assert band_of("deployment_frequency", 1, per_4w_block=4) == "high"
    assert band_of("deployment_frequency", 0.5, per_4w_block=1) == "medium"
    assert band_of("deployment_frequency", 0, per_4w_block=0.5) == "low"
    assert band_of("deployment_frequency", None) == "insufficient_data"
    with pytest.raises(ValueError, match="no dora-2023 band"):
        band_of("happiness", 1.0)


def test_the_lookback_covers_twelve_local_weeks_and_two_days_or_the_whole_window() -> None:
    assert lookback_start(WEEK) == at("2026-08-15T00:00Z")  # 2026-11-09 minus 84 days is 08-17; minus 2 days
    long = make_window(at("2026-01-01T00:00Z"), at("2026-11-09T00:00Z"))
    assert lookback_start(long) == at("2026-01-01T00:00Z")


@pytest.mark.parametrize(
    "tz", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
)
@pytest.mark.parametrize("local_end", ["2026-11-02T00:00:00.000001", "2026-11-02T23:59:59", "2026-04-06T00:30"])
def test_the_lookback_reaches_the_first_local_minute_of_the_twelfth_week_in_any_zone(tz: str, local_end: str) -> None:
    zone = ZoneInfo(tz)
    end = datetime.fromisoformat(local_end).replace(tzinfo=zone).astimezone(UTC)
    window = make_window(end - timedelta(days=7), end, tz)
    last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
    twelfth_week_start = datetime.combine(last_day - timedelta(days=83), time(), zone).astimezone(UTC)
    assert lookback_start(window) <= twelfth_week_start


def test_json_keeps_the_key_order_and_is_stable() -> None:
    result = {"spec": "dora-bot-spec/1.0", "window": {"start": "x", "days": 7.0}, "rate": None, "b": 0.044444}
    text = to_json(result)
    assert text == to_json(dict(result))
    assert list(json.loads(text)) == ["spec", "window", "rate", "b"]
    assert '"days": 7.0' in text and '"rate": null' in text and '"b": 0.044444' in text

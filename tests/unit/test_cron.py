"""Five-field cron: fields, Vixie's day-of-month/day-of-week rule, and daylight saving time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cron import next_fire, parse_cron, previous_fire
from core.errors import Invalid
from core.freezes import window_at
from core.model import Freeze

PARIS = "Europe/Paris"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(expression: str, tz: str, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        fire = next_fire(expression, tz, after)
        assert fire is not None
        found.append(fire)
        after = fire
    return found


def test_fields_take_stars_lists_ranges_steps_and_names() -> None:
    cron = parse_cron("*/15 8-18/2 1,15 jan-mar MON-fri")
    assert cron.minutes == (0, 15, 30, 45)
    assert cron.hours == (8, 10, 12, 14, 16, 18)
    assert cron.days == {1, 15}
    assert cron.months == {1, 2, 3}
    assert cron.weekdays == {1, 2, 3, 4, 5}


def test_a_start_with_a_step_runs_to_the_end_of_the_field() -> None:
    assert parse_cron("5/20 * * * *").minutes == (5, 25, 45)


def test_sunday_is_both_zero_and_seven() -> None:
    assert parse_cron("0 0 * * 7").weekdays == parse_cron("0 0 * * sun").weekdays == {0}
    assert parse_cron("0 0 * * 5-7").weekdays == {5, 6, 0}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * *", "it has 3 field(s), not 5"),
        ("61 * * * *", "`61` is not a minute (0 to 59)"),
        ("0 24 * * *", "`24` is not an hour (0 to 23)"),
        ("0 0 * mon *", "`mon` is not a month (1 to 12)"),
        ("0 0 * * 8", "`8` is not a day of week (0 to 7)"),
        ("5-1 * * * *", "the range `5-1` runs backwards"),
        ("*/0 * * * *", "`*/0` has a bad step"),
        ("1,,2 * * * *", "the minute field has an empty item"),
        ("0 0 30 2 *", "no month has that day"),
    ],
)
def test_a_malformed_expression_is_refused_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(Invalid, match=re.escape(message)):
        parse_cron(expression)


def test_day_of_month_and_day_of_week_both_restricted_means_either() -> None:
    # Friday the 13th in Vixie cron is "every 13th and every Friday".
    assert fires("0 12 13 * fri", "UTC", utc(2026, 11, 1), 4) == [
        utc(2026, 11, 6, 12),  # a Friday
        utc(2026, 11, 13, 12),  # the 13th (also a Friday)
        utc(2026, 11, 20, 12),
        utc(2026, 11, 27, 12),
    ]
    assert next_fire("0 12 13 * fri", "UTC", utc(2026, 12, 5)) == utc(2026, 12, 11, 12)
    assert next_fire("0 12 13 * fri", "UTC", utc(2026, 12, 12)) == utc(2026, 12, 13, 12)  # a Sunday


def test_a_star_with_a_step_still_counts_as_unrestricted_so_both_must_match() -> None:
    # Odd days that are Fridays: Nov 13 and 27 2026 are Fridays on odd days; Nov 6 and 20 are even.
    assert fires("0 12 */2 * fri", "UTC", utc(2026, 11, 1), 2) == [utc(2026, 11, 13, 12), utc(2026, 11, 27, 12)]


def test_a_fixed_time_follows_the_wall_clock_through_the_spring_change_in_paris() -> None:
    # Clocks go from 02:00 CET to 03:00 CEST on Sunday 29 March 2026.
    assert fires("0 9 * * *", PARIS, utc(2026, 3, 26), 6) == [
        utc(2026, 3, 26, 8),
        utc(2026, 3, 27, 8),
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
        utc(2026, 3, 31, 7),
    ]


def test_a_fixed_time_in_the_skipped_hour_fires_once_when_the_clocks_jump() -> None:
    assert fires("30 2 * * *", PARIS, utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]


def test_a_wildcard_expression_skips_the_hour_that_does_not_exist() -> None:
    assert fires("*/30 * * * *", PARIS, utc(2026, 3, 29, 0), 3) == [
        utc(2026, 3, 29, 0, 30),  # 01:30 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST
        utc(2026, 3, 29, 1, 30),
    ]


def test_a_fixed_time_in_the_repeated_hour_fires_once_in_autumn() -> None:
    # Clocks go from 03:00 CEST back to 02:00 CET on Sunday 25 October 2026.
    assert fires("30 2 * * *", PARIS, utc(2026, 10, 24, 12), 2) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_a_wildcard_expression_fires_in_both_runs_of_the_repeated_hour() -> None:
    assert fires("*/30 * * * *", PARIS, utc(2026, 10, 24, 23, 45), 5) == [
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 0),  # 02:00 CET
        utc(2026, 10, 25, 1, 30),  # 02:30 CET
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
    ]


def test_the_previous_fire_includes_the_moment_itself_and_finds_rare_days() -> None:
    assert previous_fire("0 18 * * fri", PARIS, utc(2026, 11, 6, 17)) == utc(2026, 11, 6, 17)
    assert previous_fire("0 18 * * fri", PARIS, utc(2026, 11, 6, 16, 59)) == utc(2026, 10, 30, 17)
    assert previous_fire("0 0 29 2 *", "UTC", utc(2026, 11, 2)) == utc(2024, 2, 29)
    assert next_fire("0 0 29 2 *", "UTC", utc(2026, 11, 2)) == utc(2028, 2, 29)


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    expression=st.sampled_from(["*/7 * * * *", "0 18 * * fri", "30 2 * * *", "15 9-17 * * mon-fri", "0 0 1 * *"]),
    tz=st.sampled_from([PARIS, "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_previous_and_next_fire_bracket_every_moment(moment: datetime, expression: str, tz: str) -> None:
    before, after = previous_fire(expression, tz, moment), next_fire(expression, tz, moment)
    assert before is not None and after is not None
    assert before <= moment < after
    assert next_fire(expression, tz, before) == after or before == moment


def _weekend_freeze() -> Freeze:
    # From Friday 18:00 for 63 hours: until Monday 09:00 on an ordinary weekend in Paris.
    return Freeze(
        environment="production",
        created_by="config",
        created_at=utc(2026, 1, 1),
        cron="0 18 * * fri",
        duration_s=63 * 3600,
        timezone=PARIS,
    )


def test_a_recurring_freeze_holds_within_its_duration_after_each_fire() -> None:
    freeze = _weekend_freeze()
    window = window_at(freeze, utc(2026, 11, 7, 12))  # Saturday
    assert window is not None
    assert (window.starts_at, window.ends_at) == (utc(2026, 11, 6, 17), utc(2026, 11, 9, 8))
    assert window_at(freeze, utc(2026, 11, 6, 16, 59)) is None  # Friday 17:59 in Paris
    assert window_at(freeze, utc(2026, 11, 9, 7, 59)) is not None  # Monday 08:59 in Paris
    assert window_at(freeze, utc(2026, 11, 9, 8)) is None  # Monday 09:00 in Paris


def test_a_recurring_freeze_lasts_its_duration_in_real_time_across_a_clock_change() -> None:
    # The weekend the clocks go back, 63 hours from Friday 18:00 CEST end on Monday 08:00 CET.
    window = window_at(_weekend_freeze(), utc(2026, 10, 25, 12))
    assert window is not None
    assert window.starts_at == utc(2026, 10, 23, 16)
    assert window.ends_at - window.starts_at == timedelta(hours=63)
    assert window.ends_at == utc(2026, 10, 26, 7)


def test_a_cancelled_recurring_freeze_never_holds() -> None:
    freeze = _weekend_freeze()
    freeze.cancelled_at = utc(2026, 11, 1)
    assert window_at(freeze, utc(2026, 11, 7, 12)) is None

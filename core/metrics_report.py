"""``/release metrics``: which scope and periods a report covers, and the figures it shows.

The numbers themselves are the spec's (``core.dora_queries.metrics`` returns the spec's object for one
scope and window); this module picks the windows (the period ending now, the period of the same length
before it, and the last 12 whole weeks, all in the scope's reporting time zone), reads the headline value
of each key, the trend against the previous period and the weekly values of the sparklines. Everything
but ``metrics_report`` (the use case) is pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import Any

from core.dora import BAND_TABLE, Scope, ScopeKind, Window, make_window, parse_zone
from core.errors import NotFound
from core.model import Actor
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.syntax import shown
from core.verbs.metrics import MetricsScope

WEEKS = 12
SPARK_BARS = "▁▂▃▄▅▆▇█"
GAP = "·"
MAX_NAMES_LISTED = 20


class Key(StrEnum):
    """The four keys, as named in the spec's object, in the order they are shown."""

    DEPLOYMENT_FREQUENCY = "deployment_frequency"
    LEAD_TIME = "lead_time"
    CHANGE_FAILURE_RATE = "change_failure_rate"
    TIME_TO_RESTORE = "time_to_restore"


HIGHER_IS_BETTER = {
    Key.DEPLOYMENT_FREQUENCY: True,
    Key.LEAD_TIME: False,
    Key.CHANGE_FAILURE_RATE: False,
    Key.TIME_TO_RESTORE: False,
}

Result = Mapping[str, Any]


# ---------------------------------------------------------------------------------------------------
# Periods


def period_windows(now: datetime, days: int, tz: str) -> tuple[Window, Window]:
    """The ``days`` local calendar days ending now, and the ``days`` before them: the same wall-clock time
    ``days`` and ``2 * days`` days ago in the zone, so a period across a daylight-saving change is an hour
    shorter or longer, as the spec's windows are."""
    zone = parse_zone(tz)
    local_now = now.astimezone(zone)
    start = _wall_clock(local_now - timedelta(days=days), zone)
    previous_start = _wall_clock(local_now - timedelta(days=2 * days), zone)
    return make_window(start, now, tz), make_window(previous_start, start, tz)


def weekly_windows(now: datetime, tz: str, weeks: int = WEEKS) -> list[Window]:
    """The last ``weeks`` whole weeks before the current one, oldest first; a week starts Monday 00:00
    in the zone."""
    zone = parse_zone(tz)
    today = now.astimezone(zone).date()
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=k) for k in range(weeks, -1, -1)]
    bounds = [_midnight(day, zone) for day in mondays]
    return [make_window(start, end, tz) for start, end in pairwise(bounds)]


def _wall_clock(local: datetime, zone: tzinfo) -> datetime:
    """A local wall-clock time (after arithmetic on it) as an instant in UTC."""
    return local.replace(tzinfo=zone).astimezone(UTC)


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


# ---------------------------------------------------------------------------------------------------
# Values, trend and sparkline


def headline(result: Result, key: Key) -> float | None:
    """The value a key is compared and plotted by: successful deployments (a count), the median lead
    time and time to restore (seconds), the change failure rate (a fraction). None: no data (for deployment
    frequency: nothing at all happened in production)."""
    section = result[key.value]
    if key is Key.DEPLOYMENT_FREQUENCY:
        return float(section["successful_deployments"]) if has_activity(result) else None
    if key is Key.CHANGE_FAILURE_RATE:
        rate = section["rate"]
        return None if rate is None else float(rate)
    median = section["median_s"]
    return None if median is None else float(median)


def has_activity(result: Result) -> bool:
    """Anything recorded in production in the window: a finished deployment or one in flight."""
    return bool(result["change_failure_rate"]["finished_deployments"] or result["in_flight_at_window_end"])


def weekly_values(key: Key, weekly: Sequence[Result]) -> list[float | None]:
    """One value per week, oldest first; None for a week without data. A week with no deployment after
    the first week with any production activity counts 0 deployments; the weeks before it have no data."""
    if key is not Key.DEPLOYMENT_FREQUENCY:
        return [headline(result, key) for result in weekly]
    first = next((i for i, result in enumerate(weekly) if has_activity(result)), len(weekly))
    counts = [float(result[key.value]["successful_deployments"]) for result in weekly]
    return [None if i < first else count for i, count in enumerate(counts)]


def sparkline(values: Sequence[float | None]) -> str:
    """Bars scaled from 0 to the largest value: ``▁`` is zero, and ``▂`` to ``█`` split the range above
    it in seven equal steps (``█`` is the largest); ``·`` marks a week without data."""
    present = [v for v in values if v is not None]
    top = Fraction(max(present, default=0.0))
    bars = []
    for value in values:
        if value is None:
            bars.append(GAP)
        elif value <= 0 or top <= 0:
            bars.append(SPARK_BARS[0])
        else:
            bars.append(SPARK_BARS[math.ceil(Fraction(value) / top * 7)])
    return "".join(bars)


class Direction(StrEnum):
    UP = "↑"
    DOWN = "↓"
    FLAT = "→"


@dataclass(frozen=True)
class Trend:
    """The change against the previous period; ``change`` is None when either period has no data."""

    direction: Direction | None
    change: str | None  # signed, humanised: ``+12``, ``-3.2 h``, ``+2.1 pp``
    previous: str | None  # the previous period's value, humanised, or None for no data
    better: bool | None  # None: no change, or no trend


def trend(key: Key, current: Result, previous: Result) -> Trend:
    """Up or down, by how much, and whether that is better for this key (more deployments; shorter lead
    time and restores; fewer failures). A change that rounds to nothing on display is no change."""
    now_value, before = headline(current, key), headline(previous, key)
    previous_text = None if before is None else shown_value(key, before)
    if now_value is None or before is None:
        return Trend(None, None, previous_text, None)
    delta = now_value - before
    magnitude = shown_change(key, abs(delta))
    if magnitude == shown_change(key, 0.0):
        return Trend(Direction.FLAT, "no change", previous_text, None)
    rising = delta > 0
    sign = "+" if rising else "-"
    return Trend(
        Direction.UP if rising else Direction.DOWN,
        f"{sign}{magnitude}",
        previous_text,
        rising == HIGHER_IS_BETTER[key],
    )


def shown_value(key: Key, value: float) -> str:
    if key is Key.DEPLOYMENT_FREQUENCY:
        return str(int(value))
    if key is Key.CHANGE_FAILURE_RATE:
        return percent(value)
    return humanise(value)


def shown_change(key: Key, magnitude: float) -> str:
    if key is Key.CHANGE_FAILURE_RATE:
        return f"{_half_up(magnitude * 100, '0.1')} pp"
    return shown_value(key, magnitude)


# ---------------------------------------------------------------------------------------------------
# Numbers for people


def humanise(seconds: float) -> str:
    """``45 s``, ``14 min``, ``3.2 h``, ``1.6 d``: the largest unit that reads as at least 1 (minutes
    whole, hours and days to 1 decimal, halves rounded up)."""
    if _half_up(seconds, "1") < 60:
        return f"{_half_up(seconds, '1')} s"
    if _half_up(seconds / 60, "1") < 60:
        return f"{_half_up(seconds / 60, '1')} min"
    if _half_up(seconds / 3600, "0.1") < 24:
        return f"{_half_up(seconds / 3600, '0.1')} h"
    return f"{_half_up(seconds / 86400, '0.1')} d"


def percent(fraction: float) -> str:
    """A rate to 0.1 percentage point: ``4.4%``."""
    return f"{_half_up(fraction * 100, '0.1')}%"


def number(value: float) -> str:
    """A count or median that may be fractional: ``3``, ``2.5``, ``1.4``."""
    rounded = _half_up(value, "0.1")
    return str(int(rounded)) if rounded == rounded.to_integral_value() else str(rounded)


def _half_up(value: float, step: str) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(step), rounding=ROUND_HALF_UP)


def band_table_name() -> str:
    """``dora-2023`` -> ``DORA 2023 bands``."""
    return BAND_TABLE.replace("dora-", "DORA ") + " bands"


# ---------------------------------------------------------------------------------------------------
# The use case


@dataclass(frozen=True)
class MetricsReport:
    scope: Scope
    chosen_for_you: bool  # the scope was not named: the caller's team, or the organisation
    days: int
    tz: str
    current: Result
    previous: Result
    weekly: Sequence[Result]  # the last 12 whole weeks, oldest first
    weeks: list[Window]


async def resolve_scope(
    uow: UnitOfWork, actor: Actor, kind: MetricsScope, name: str | None, org_timezone: str
) -> tuple[Scope, str]:
    """The scope and its reporting time zone. Nobody names a scope: the caller's team when they have one
    (and it is declared), else the organisation. A team reports in its own zone, a service in its team's, the organisation in
    the configured default. An unknown team or service is refused, naming the ones that exist."""
    if kind is MetricsScope.MINE:
        user = await uow.users.get(actor.user_id)
        if user is None or not user.team:
            return Scope(ScopeKind.ORG), org_timezone
        mine = await uow.teams.get(user.team)
        if mine is None:
            return Scope(ScopeKind.ORG), org_timezone
        return Scope(ScopeKind.TEAM, mine.name), mine.timezone
    if kind is MetricsScope.ORG or name is None:
        return Scope(ScopeKind.ORG), org_timezone
    if kind is MetricsScope.TEAM:
        team = await uow.teams.get(name)
        if team is None:
            names = [t.name for t in await uow.teams.list()]
            raise NotFound(f"There is no team {shown(name)}.", hint=_known("Teams", names, "/release team add <name>"))
        return Scope(ScopeKind.TEAM, name), team.timezone
    service = await uow.services.get(name)
    if service is None:
        names = [s.name for s in await uow.services.list()]
        raise NotFound(
            f"There is no service {shown(name)}.",
            hint=_known("Services", names, "/release service add <name> team <team> channel <#channel>")
            + (" `/release status` lists them with what runs where." if names else ""),
        )
    owner = await uow.teams.get(service.team)
    return Scope(ScopeKind.SERVICE, name), owner.timezone if owner else org_timezone


def _known(what: str, names: Sequence[str], add_command: str) -> str:
    if not names:
        return f"No {what.lower()} are declared yet: an admin adds one with `{add_command}`."
    ordered = sorted(names)
    listed = ", ".join(f"`{n}`" for n in ordered[:MAX_NAMES_LISTED])
    more = f" and {len(ordered) - MAX_NAMES_LISTED} more" if len(ordered) > MAX_NAMES_LISTED else ""
    return f"{what}: {listed}{more}."


async def metrics_report(
    uow: UnitOfWork,
    *,
    actor: Actor,
    scope: MetricsScope,
    name: str | None,
    days: int,
    now: datetime,
    org_timezone: str,
) -> MetricsReport:
    """Anyone allowed to see metrics reads any scope's; the figures are the spec's for the period ending
    now, the period of the same length before it, and each of the last 12 whole weeks."""
    from core.dora_queries import metrics

    require(actor, Permission.SEE_METRICS)
    resolved, tz = await resolve_scope(uow, actor, scope, name, org_timezone)
    current_window, previous_window = period_windows(now, days, tz)
    weeks = weekly_windows(now, tz)
    current = await metrics(uow, resolved, current_window)
    previous = await metrics(uow, resolved, previous_window)
    weekly = [await metrics(uow, resolved, week) for week in weeks]
    return MetricsReport(resolved, scope is MetricsScope.MINE, days, tz, current, previous, weekly, weeks)

"""Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in a time zone.

Fields take ``*``, numbers, names (``jan``..``dec``, ``sun``..``sat``), ranges (``mon-fri``), lists
(``1,15``) and steps (``*/15``, ``8-18/2``, ``5/10`` meaning ``5-59/10``). Day-of-week 0 and 7 are Sunday.

The semantics are Vixie cron's:

- When day-of-month and day-of-week are both restricted (neither starts with ``*``), a day matches if
  EITHER matches; otherwise both must (so ``*/2`` still counts as unrestricted, as in Vixie cron).
- Daylight saving time: a fixed-time expression (neither minute nor hour starts with ``*``) whose wall
  time falls in the hour skipped in spring fires once when the clocks jump; in the hour repeated in
  autumn it fires once, at the first occurrence. A wildcard expression (``*/15 * * * *``, ``0 * * * *``)
  follows real time: nothing in the skipped hour, every occurrence in the repeated one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import Invalid
from core.text import escape, truncate

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Feb 29 on a Monday comes round every 28 years at most; nothing that can fire is further apart.
SEARCH_DAYS = 366 * 29
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_ARTICLES = ("a", "an", "a", "a", "a")
_LIMITS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the allowed values of each field and the flags that change its meaning."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    dom_restricted: bool
    dow_restricted: bool
    fixed_time: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_dom = day.day in self.days
        in_dow = day.isoweekday() % 7 in self.weekdays
        if self.dom_restricted and self.dow_restricted:
            return in_dom or in_dow
        return in_dom and in_dow


def _fail(expression: str, message: str) -> Invalid:
    return Invalid(
        f"`{escape(truncate(expression, 80))}` is not a cron expression: {message}.",
        hint="Write five fields, minute hour day-of-month month day-of-week, like `0 18 * * fri`.",
    )


def _value(token: str, index: int, expression: str) -> int:
    names = MONTHS if index == 3 else WEEKDAYS if index == 4 else ()
    lowered = token.lower()
    if lowered in names:
        return names.index(lowered) + (1 if index == 3 else 0)
    low, high = _LIMITS[index]
    if not token.isdigit() or not low <= int(token) <= high:
        raise _fail(
            expression,
            f"`{escape(truncate(token, 20))}` is not {_ARTICLES[index]} {_FIELD_NAMES[index]} ({low} to {high})",
        )
    return int(token)


def _item(item: str, index: int, expression: str) -> set[int]:
    low, high = _LIMITS[index]
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or not 1 <= int(step_text) <= high:
            raise _fail(expression, f"`{escape(truncate(item, 20))}` has a bad step")
        step = int(step_text)
    if base == "*":
        start, end = low, high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _value(first, index, expression), _value(last, index, expression)
        if start > end:
            raise _fail(expression, f"the range `{escape(truncate(base, 20))}` runs backwards")
    else:
        start = _value(base, index, expression)
        end = high if slash else start
    return set(range(start, end + 1, step))


def _field(text: str, index: int, expression: str) -> set[int]:
    if not text or any(not part for part in text.split(",")):
        raise _fail(expression, f"the {_FIELD_NAMES[index]} field has an empty item")
    values: set[int] = set()
    for item in text.split(","):
        values |= _item(item, index, expression)
    return values


@lru_cache(maxsize=256)
def parse_cron(expression: str) -> Cron:
    """Parse five fields; raises ``Invalid`` naming the field at fault, or when the expression can never fire."""
    fields = expression.split()
    if len(fields) != 5:
        raise _fail(expression, f"it has {len(fields)} field(s), not 5")
    values = [_field(text, index, expression) for index, text in enumerate(fields)]
    weekdays = frozenset(day % 7 for day in values[4])
    cron = Cron(
        expression=" ".join(fields),
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=weekdays,
        dom_restricted=not fields[2].startswith("*"),
        dow_restricted=not fields[4].startswith("*"),
        fixed_time=not fields[0].startswith("*") and not fields[1].startswith("*"),
    )
    if not (cron.dom_restricted and cron.dow_restricted) and not any(
        day <= _DAYS_IN_MONTH[month - 1] for month in cron.months for day in cron.days
    ):
        raise _fail(expression, "no month has that day")
    return cron


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; raises ``Invalid`` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"`{escape(truncate(name, 60))}` is not a time zone: use an IANA name like `Europe/Paris` or `UTC`."
        ) from None


def _gap_end(earliest: datetime, latest: datetime, tz: ZoneInfo) -> datetime:
    """The instant the clocks jumped, between two readings of a wall time that does not exist."""
    offset = earliest.astimezone(tz).utcoffset()
    low, high = earliest, latest
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _instants(wall: datetime, tz: ZoneInfo, fixed_time: bool) -> list[datetime]:
    """The UTC instants at which a wall-clock time fires (none, one, or two in the repeated hour)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if first.astimezone(tz).replace(tzinfo=None) == wall:  # repeated hour: first < second
        return [first] if fixed_time else [first, second]
    return [_gap_end(second, first, tz)] if fixed_time else []  # skipped hour: second < first


# Clocks shift by at most a few hours, so instants and wall times differ in order by less than this.
_SHIFT = timedelta(hours=3)


def _walls(cron: Cron, tz: ZoneInfo, moment: datetime, step: int) -> Iterator[datetime]:
    """Wall-clock fire times of matching local days, walking from around ``moment`` in direction ``step``."""
    # Start a day early: near midnight a DST shift can move a fire time across the local date line.
    day = moment.astimezone(tz).date() - timedelta(days=step)
    hours = cron.hours if step > 0 else cron.hours[::-1]
    minutes = cron.minutes if step > 0 else cron.minutes[::-1]
    for _ in range(SEARCH_DAYS):
        if cron.matches_day(day):
            for hour in hours:
                for minute in minutes:
                    yield datetime.combine(day, time(hour, minute))
        try:
            day += timedelta(days=step)
        except OverflowError:
            return


def _search(expression: str, tz: str, moment: datetime, step: int) -> datetime | None:
    """The nearest fire time on the ``step`` side of ``moment`` (at or before it when walking back)."""
    cron, zone_info = parse_cron(expression), zone(tz)
    local = moment.astimezone(zone_info).replace(tzinfo=None)
    best: datetime | None = None
    best_wall = local
    for wall in _walls(cron, zone_info, moment, step):
        if (wall - local) * step < -_SHIFT:
            continue
        if best is not None and (wall - best_wall) * step > _SHIFT:
            break
        for fire in _instants(wall, zone_info, cron.fixed_time):
            on_side = fire > moment if step > 0 else fire <= moment
            if on_side and (best is None or (fire - best) * step < timedelta(0)):
                best, best_wall = fire, wall
    return best


def previous_fire(expression: str, tz: str, before: datetime) -> datetime | None:
    """The latest fire time at or before ``before`` (timezone-aware), in UTC; None if it never fired."""
    return _search(expression, tz, before, -1)


def next_fire(expression: str, tz: str, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (timezone-aware), in UTC; None if it never fires."""
    return _search(expression, tz, after, 1)

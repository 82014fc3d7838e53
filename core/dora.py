"""DORA metrics exactly as ``dora-bot-spec/1.0`` defines them (rules S1 to S9).

Two paths give the same answer: ``reference_inputs`` computes the intermediate figures from plain
deployment facts in Python (the readable statement of the spec), and the store computes the same
``MetricInputs`` with SQL aggregation (``uow.metrics``). ``assemble`` turns either into the JSON object
the spec prints, so the property tests can compare the two paths on random histories.

Conventions shared by both paths:
- Only facts whose status is in ``COUNTED_STATUSES`` exist for the metrics; any other status
  (``rejected``, ``cancelled``, ``expired``, ...) is ignored everywhere, including ``data_start``.
- Deployments are ordered by ``(finished_at, deployed_at, id)`` (S9) with a missing ``deployed_at``
  after any present one (SQL: ``NULLS LAST``).
- Sample lists are seconds; ``assemble`` reads them to the microsecond, so float noise below half a
  microsecond never changes a result.
- Where the spec leaves a detail open: releases without a commit sha form one (service, commit) group
  (S6, as SQL groups NULLs); the earliest failure of an episode is the one with the earliest
  ``failure_start``, ties in S9 order (S4); incident durations and failures need a finished deployment
  (status success, failed or rolled back with a ``finished_at``, S8); ``data_start`` defaults to the
  earliest ``deployed_at`` (else ``finished_at``) of any counted fact, whatever the scope or environment.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import UsageError
from core.syntax import NAME_RE, shown

SPEC = "dora-bot-spec/1.0"
BAND_TABLE = "dora-2023"

SUCCESS = "success"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
IN_PROGRESS = "in_progress"
COUNTED_STATUSES = frozenset({SUCCESS, FAILED, ROLLED_BACK, IN_PROGRESS})
FINISHED_STATUSES = frozenset({SUCCESS, FAILED, ROLLED_BACK})

LOOKBACK_WEEKS = 12
MIN_WEEKS = 4
LOOKBACK_MARGIN = timedelta(days=2)
INSUFFICIENT = "insufficient_data"


class ScopeKind(StrEnum):
    ORG = "org"
    TEAM = "team"
    SERVICE = "service"


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    name: str | None = None  # None for org


@dataclass(frozen=True)
class Window:
    """Half-open ``[start, end)`` in UTC; ``tz`` is the reporting zone exactly as given (``UTC``, an IANA
    zone or a fixed offset such as ``+09:00``); ``data_start`` None means the earliest recorded deployment."""

    start: datetime
    end: datetime
    tz: str = "UTC"
    data_start: datetime | None = None


@dataclass(frozen=True)
class Fact:
    """One deployment attempt as the metrics see it (any environment; S1 filters on ``is_production``)."""

    id: int
    service: str
    team: str | None  # the team recorded on the deployment at deployment time
    environment: str
    is_production: bool
    commit_sha: str | None
    committed_at: datetime | None
    deployed_at: datetime | None
    finished_at: datetime | None
    status: str  # success | failed | rolled_back | in_progress (other bot statuses never count)
    incident_opened_at: datetime | None = None
    incident_resolved_at: datetime | None = None


@dataclass
class MetricInputs:
    """What the metrics need from the history of one scope and window, before statistics and bands.

    Both paths fill this; ``assemble`` does the rest. Sample lists are in seconds, in any order.
    """

    # S5: every successful production finish in scope in [lookback_start, end), where lookback_start is
    # min(window.start, end - 12 weeks - 2 days) (``lookback_start(window)``). Only the local calendar
    # dates and membership in [start, end) matter, so the store may return distinct instants rounded down
    # to 15 minutes, provided a finish at or after window.start is never moved before it (raise such an
    # instant to window.start); quarter hours keep local dates because fixed offsets must be whole quarter
    # hours (``parse_zone``) and every IANA zone's have been since 1972. ``successful_deployments`` is exact.
    success_finishes: list[datetime] = field(default_factory=list)
    successful_deployments: int = 0  # successes with finished_at in [start, end)
    data_start: datetime | None = None  # resolved: window.data_start or the earliest recorded deployment
    # S6
    lead_time_samples: list[float] = field(default_factory=list)
    excluded_missing_committed_at: int = 0
    excluded_negative: int = 0
    # S3
    finished_deployments: int = 0
    failed_by_cause: dict[str, int] = field(default_factory=lambda: {"failed": 0, "rolled_back": 0, "incident": 0})
    # S4
    restore_samples: list[float] = field(default_factory=list)
    open_failures_at_window_end: int = 0
    oldest_open_failure_start: datetime | None = None
    incident_duration_samples: list[float] = field(default_factory=list)
    # S8
    in_flight_at_window_end: int = 0


# ---------------------------------------------------------------------------------------------------
# Parsing (every error says what was wrong and what to type instead)

SCOPE_HINT = "Write `org`, `team:NAME` or `service:NAME`, like `team:payments`."
INSTANT_HINT = "Write an ISO 8601 time with an offset, like `2026-11-02T00:00:00Z` or `2026-11-02T09:00+01:00`."
ZONE_HINT = "Use `UTC`, an IANA zone like `Europe/Berlin`, or a fixed offset like `+09:00` or `-03:30`."
_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})$")
MAX_OFFSET_MINUTES = 18 * 60
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def parse_scope(text: str) -> Scope:
    """``org``, ``team:NAME`` or ``service:NAME`` (case-insensitive; names are stored lower-case)."""
    value = text.strip()
    kind_text, colon, name = value.partition(":")
    kind_text = kind_text.strip().lower()
    if kind_text == "org" and not colon:
        return Scope(ScopeKind.ORG)
    if kind_text == "org":
        raise UsageError(f"{shown(text)} is not a scope: `org` takes no name.", hint=SCOPE_HINT)
    if kind_text not in (ScopeKind.TEAM, ScopeKind.SERVICE):
        raise UsageError(f"{shown(text)} is not a scope.", hint=SCOPE_HINT)
    if not colon or not name.strip():
        raise UsageError(f"The scope {shown(text)} needs a {kind_text} name after a colon.", hint=SCOPE_HINT)
    if not NAME_RE.match(name.strip().lower()):
        raise UsageError(
            f"{shown(name.strip())} is not a valid {kind_text} name: use 1 to 63 lower-case letters, digits, "
            "`.`, `_` or `-`, starting with a letter or digit.",
            hint=SCOPE_HINT,
        )
    return Scope(ScopeKind(kind_text), name.strip().lower())


def parse_instant(text: str, *, what: str = "time") -> datetime:
    """An ISO 8601 date and time that carries a UTC offset or ``Z``; returned in UTC."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"The {what} {shown(text)} is not an ISO 8601 date and time.", hint=INSTANT_HINT) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise UsageError(
            f"The {what} {shown(text)} has no UTC offset: add `Z` or an offset such as `+01:00`.", hint=INSTANT_HINT
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise UsageError(f"The {what} {shown(text)} is out of range.", hint=INSTANT_HINT) from None


def parse_zone(text: str) -> tzinfo:
    """``UTC``, an IANA zone (``Europe/Berlin``) or a fixed offset in whole quarter hours (``+05:45``)."""
    value = text.strip()
    if value.upper() in ("UTC", "Z"):
        return UTC
    match = _OFFSET.match(value)
    if match:
        hours, minutes = int(match.group("h")), int(match.group("m"))
        total = hours * 60 + minutes
        if minutes >= 60 or total > MAX_OFFSET_MINUTES or minutes % 15:
            raise UsageError(
                f"{shown(text)} is not a usable offset: write whole quarter hours up to 18:00, "
                "like `+09:00`, `+05:45` or `-03:30`.",
                hint=ZONE_HINT,
            )
        sign = -1 if match.group("sign") == "-" else 1
        return UTC if total == 0 else timezone(sign * timedelta(minutes=total))
    if not value or len(value) > 64:
        raise UsageError(f"{shown(text)} is not a time zone.", hint=ZONE_HINT)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"{shown(text)} is not a time zone.", hint=ZONE_HINT) from None


def make_window(start: datetime, end: datetime, tz: str = "UTC", data_start: datetime | None = None) -> Window:
    """A half-open window ``[start, end)`` in UTC; the zone is checked and kept exactly as given."""
    parse_zone(tz)
    for what, value in (("start", start), ("end", end), ("data start", data_start)):
        if value is None:
            continue
        if value.tzinfo is None or value.utcoffset() is None:
            raise UsageError(f"The {what} has no UTC offset.", hint=INSTANT_HINT)
        if not EARLIEST <= value < LATEST:
            raise UsageError(
                f"The {what} ({value.isoformat()}) is out of range: use a time from 1970-01-01 to 9998-12-31.",
                hint=INSTANT_HINT,
            )
    if not start < end:
        raise UsageError(
            f"The window is empty: its start ({start.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}) is not before its end "
            f"({end.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}).",
            hint="Give a start earlier than the end.",
        )
    return Window(
        start.astimezone(UTC),
        end.astimezone(UTC),
        tz,
        data_start.astimezone(UTC) if data_start is not None else None,
    )


# ---------------------------------------------------------------------------------------------------
# Statistics and bands


def percentile(values: Sequence[float], p: float) -> float | None:
    """Type 7 (numpy's default, ``percentile_cont``): linear between closest ranks; one value gives it;
    no value gives None. Computed exactly on the given floats, then rounded once."""
    result = exact_percentile([Fraction(v) for v in values], Fraction(str(p)))
    return None if result is None else float(result)


def exact_percentile(values: Sequence[Fraction | int], p: Fraction) -> Fraction | None:
    if not 0 <= p <= 1:
        raise ValueError(f"percentile p must lie in [0, 1], got {p}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low = math.floor(rank)
    if low + 1 >= len(ordered):
        return Fraction(ordered[low])
    return ordered[low] + (ordered[low + 1] - ordered[low]) * (rank - low)


DAY = 86400
_DURATION_BANDS: dict[str, tuple[int, int, int]] = {
    # strict upper bounds in seconds for elite, high, medium (S7)
    "lead_time": (DAY, 7 * DAY, 30 * DAY),
    "time_to_restore": (3600, DAY, 7 * DAY),
}
_RATE_BANDS = (Fraction(5, 100), Fraction(10, 100), Fraction(15, 100))  # inclusive upper bounds


def band_of(metric: str, value: float | Fraction | None, *, per_4w_block: float | Fraction | None = None) -> str | None:
    """The ``dora-2023`` band of one metric's unrounded value (S7); a null metric has no band.

    ``metric`` is a key of the spec's object: ``lead_time`` and ``time_to_restore`` take a median in
    seconds, ``change_failure_rate`` a fraction, ``deployment_frequency`` the median deploy days per
    week with ``per_4w_block`` the median deploy days per 4-week block (S5; None: insufficient data).
    """
    if metric == "deployment_frequency":
        if value is None:
            return INSUFFICIENT
        if value >= 5:
            return "elite"
        if value >= 1:
            return "high"
        return "medium" if per_4w_block is not None and per_4w_block >= 1 else "low"
    if metric == "change_failure_rate":
        bounds: Sequence[Fraction | int] = _RATE_BANDS
        inclusive = True
    elif metric in _DURATION_BANDS:
        bounds, inclusive = _DURATION_BANDS[metric], False
    else:
        raise ValueError(f"no {BAND_TABLE} band for {metric!r}")
    if value is None:
        return None
    # a float is read as the decimal it prints as, so band_of("change_failure_rate", 0.1) is "high"
    exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    for name, bound in zip(("elite", "high", "medium"), bounds, strict=True):
        if exact < bound or (inclusive and exact == bound):
            return name
    return "low"


# ---------------------------------------------------------------------------------------------------
# Windows, calendars and the two paths


def zone_of(window: Window) -> tzinfo:
    return parse_zone(window.tz)


def lookback_start(window: Window) -> datetime:
    """The earliest finish that can matter for S5: deploy days need ``[start, end)``; the classification
    needs up to 12 local weeks ending on the local date of the instant before ``end``. Local days of any
    zone start less than 2 days off the UTC arithmetic, hence the margin."""
    return min(window.start, window.end - timedelta(weeks=LOOKBACK_WEEKS) - LOOKBACK_MARGIN)


def reference_inputs(facts: Iterable[Fact], scope: Scope, window: Window) -> MetricInputs:
    """S1 to S9 over every fact (any environment, any team), in plain Python: see ``core.dora_reference``."""
    from core.dora_reference import inputs_from_facts

    return inputs_from_facts(list(facts), scope, window)


def assemble(inputs: MetricInputs, scope: Scope, window: Window) -> dict[str, Any]:
    """The spec's machine-readable object from either path's ``MetricInputs``: see ``core.dora_assemble``."""
    from core.dora_assemble import metrics_object

    return metrics_object(inputs, scope, window)


def reference_metrics(facts: Iterable[Fact], scope: Scope, window: Window) -> dict[str, Any]:
    return assemble(reference_inputs(facts, scope, window), scope, window)


def to_json(result: Mapping[str, Any]) -> str:
    """The object as printed by ``releasebot metrics --json``: the spec's key order, two-space indent."""
    return json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False)

"""The weekly DORA digest: which week it covers, and its content (pure: no I/O).

The numbers come from the metrics object of ``dora-bot-spec/1.0`` (``core.dora_queries.metrics``), the
lists beside them from ``uow.digests``. ``compose`` turns both into the digest's content: a JSON-able
dict that is stored as sent (``digest_runs.payload``), queued in the outbox and rendered as Block Kit by
``handlers.digest_blocks``. Every text in it is mrkdwn with user text already escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.dora import BAND_TABLE, INSUFFICIENT, Scope, ScopeKind, parse_zone
from core.text import escape, truncate

KIND = "digest.weekly"  # the outbox notification kind (rendered by handlers.digest_blocks)
VERSION = 1
SERVICE_ROWS = 10
LIST_ROWS = 10
SLOWEST = 5
NAME_WIDTH = 24
KEYS = ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore")
TITLES = {
    "deployment_frequency": "Deployment frequency",
    "lead_time": "Lead time for changes",
    "change_failure_rate": "Change failure rate",
    "time_to_restore": "Time to restore",
}
CAUSES = {"failed": "failed", "rolled_back": "rolled back", "incident": "incident"}
FOOTNOTE = (
    "Lead time runs from the oldest commit of each release to its first successful production deployment, "
    "so it reads higher than a per-commit median."
)
NO_BAND = "no band yet"  # deployment frequency with fewer than 4 weeks of history (S5)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class DigestPeriod:
    """One reporting week ``[start, end)`` in UTC: Monday 00:00 to Monday 00:00 in the zone ``tz`` (S2)."""

    start: datetime
    end: datetime
    tz: str

    def before(self) -> DigestPeriod:
        """The week before this one."""
        return last_full_week(self.start, self.tz)


@dataclass(frozen=True)
class FailedDeployment:
    """A production deployment of the week counted as a failure (S3)."""

    deployment_id: int
    service: str
    version: str
    finished_at: datetime
    cause: str  # failed | rolled_back | incident


@dataclass(frozen=True)
class OpenFailure:
    """A service's failures not restored by the end of the week: one episode (S4), from its earliest failure."""

    service: str
    deployment_id: int
    version: str
    since: datetime  # the failure start of the earliest failure
    failures: int


@dataclass(frozen=True)
class SlowChange:
    """One lead-time sample (S6): the release's first successful production deployment."""

    deployment_id: int
    service: str
    version: str
    seconds: float


@dataclass(frozen=True)
class DigestRun:
    """A digest as sent: one per scope (``team:payments``, ``service:payments-api``) and week."""

    scope: str
    period_start: datetime
    period_end: datetime
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class DigestLists:
    """What a digest shows beside the metrics, read by ``uow.digests``."""

    failures: Sequence[FailedDeployment] = ()
    open_failures: Sequence[OpenFailure] = ()
    slowest: Sequence[SlowChange] = ()


def scope_key(scope: Scope) -> str:
    return f"{scope.kind.value}:{scope.name}"


# ---------------------------------------------------------------------------------------------------
# Weeks and schedules


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The first instant of a local calendar day, in UTC (a midnight skipped by DST maps just past the gap)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def last_full_week(now: datetime, tz: str) -> DigestPeriod:
    """The last full week before ``now``: Monday 00:00 to Monday 00:00 in ``tz``, ending at or before ``now``.

    A daylight-saving week is 167 or 169 hours long (S2)."""
    zone = parse_zone(tz)
    local = now.astimezone(zone).date()
    monday = local - timedelta(days=local.weekday())
    end = local_midnight(monday, zone)
    if end > now:  # only when a DST gap swallowed the local midnight just before ``now``
        monday -= timedelta(days=7)
        end = local_midnight(monday, zone)
    return DigestPeriod(local_midnight(monday - timedelta(days=7), zone), end, tz)


# ---------------------------------------------------------------------------------------------------
# Formatting


def _half_up(value: float, step: str) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(step), rounding=ROUND_HALF_UP)


def hours(seconds: float | None) -> str:
    """A duration in hours to 1 decimal (the spec's display rounding); ``—`` for no value."""
    if seconds is None:
        return "—"
    shown = _half_up(seconds / 3600, "0.1")
    if shown == 0 and seconds > 0:
        return "under 0.1 h"
    return f"{shown} h"


def percent(rate: float | None) -> str:
    """A rate to 0.1 percentage point."""
    return "—" if rate is None else f"{_half_up(rate * 100, '0.1')}%"


def local_time(instant: datetime, tz: str) -> str:
    """``Tue 3 Nov 14:05`` in the digest's zone."""
    local = instant.astimezone(parse_zone(tz))
    return f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local:%H:%M}"


def _day(value: date, *, year: bool) -> str:
    text = f"{_WEEKDAYS[value.weekday()]} {value.day} {_MONTHS[value.month - 1]}"
    return f"{text} {value.year}" if year else text


def week_label(period: DigestPeriod) -> str:
    """``Mon 2 Nov to Sun 8 Nov 2026`` (local dates of the week's first and last day)."""
    zone = parse_zone(period.tz)
    first = period.start.astimezone(zone).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    return f"{_day(first, year=first.year != last.year)} to {_day(last, year=True)}"


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _band(value: str | None) -> str | None:
    if value is None:
        return None
    return NO_BAND if value == INSUFFICIENT else value


def key_figures(metrics: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """Each key's value text and band, as the digest shows them (and compares them for restatement)."""
    frequency = metrics["deployment_frequency"]
    lead = metrics["lead_time"]
    failures = metrics["change_failure_rate"]
    restore = metrics["time_to_restore"]
    return {
        "deployment_frequency": {
            "value": _frequency(frequency),
            "band": _band(frequency["classification"]["band_2023"]),
        },
        "lead_time": {"value": _lead_time(lead), "band": _band(lead["band_2023"])},
        "change_failure_rate": {"value": _failure_rate(failures), "band": _band(failures["band_2023"])},
        "time_to_restore": {"value": _restore(restore), "band": _band(restore["band_2023"])},
    }


def _frequency(figures: Mapping[str, Any]) -> str:
    count = int(figures["successful_deployments"])
    if count == 0:
        return "no successful deployments"
    return (
        f"{_plural(count, 'successful deployment')} ({_half_up(figures['per_day'], '0.1')} a day) "
        f"on {_plural(int(figures['deploy_days']), 'day')}"
    )


def _lead_time(figures: Mapping[str, Any]) -> str:
    samples = int(figures["samples"])
    missing, negative = int(figures["excluded_missing_committed_at"]), int(figures["excluded_negative"])
    text = (
        f"median {hours(figures['median_s'])}, p90 {hours(figures['p90_s'])} over {_plural(samples, 'release')}"
        if samples
        else "no release reached production"
    )
    left_out = []
    if missing:
        left_out.append(f"{missing} without a commit time")
    if negative:
        left_out.append(f"{negative} committed after deploying (clock skew)")
    return f"{text} ({' and '.join(left_out)} left out)" if left_out else text


def _failure_rate(figures: Mapping[str, Any]) -> str:
    finished = int(figures["finished_deployments"])
    if finished == 0:
        return "no finished deployments"
    failed = int(figures["failed_deployments"])
    causes = [f"{count} {CAUSES[cause]}" for cause, count in figures["by_cause"].items() if count]
    split = f": {', '.join(causes)}" if causes else ""
    return f"{percent(figures['rate'])} ({failed} of {_plural(finished, 'deployment')}{split})"


def _restore(figures: Mapping[str, Any]) -> str:
    restored = int(figures["restored_episodes"])
    if restored == 0:
        return "no failure restored"
    return (
        f"median {hours(figures['median_s'])}, p90 {hours(figures['p90_s'])} "
        f"over {_plural(restored, 'restored failure')}"
    )


def figure_text(figure: Mapping[str, Any]) -> str:
    """``4.4% (2 of 45 deployments: 2 failed), *elite*``."""
    band = figure.get("band")
    if band == NO_BAND:
        return f"{figure['value']} ({NO_BAND})"
    return f"{figure['value']}, *{band}*" if band else str(figure["value"])


# ---------------------------------------------------------------------------------------------------
# Content


def compose(
    *,
    scope: Scope,
    period: DigestPeriod,
    current: Mapping[str, Any],
    previous: Mapping[str, Any],
    stored_previous: Mapping[str, Any] | None,
    services: Sequence[tuple[str, Mapping[str, Any]]],
    lists: DigestLists,
) -> dict[str, Any]:
    """The digest of ``scope`` for ``period`` against the week before.

    ``previous`` is the week before as recomputed now; ``stored_previous`` the payload of the digest
    already sent for it, if any: then that digest's figures are shown, and a recomputed figure that differs
    (statuses change later, S8) is shown beside it as restated."""
    return {
        "version": VERSION,
        "scope": scope_key(scope),
        "name": scope.name,
        "kind": scope.kind.value,
        "title": f"Weekly DORA digest: {scope.name}",
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "tz": period.tz},
        "subtitle": f"{week_label(period)} ({escape(period.tz)}) against the week before · bands: {BAND_TABLE}",
        "band_table": BAND_TABLE,
        "keys": _keys(current, previous, stored_previous),
        "services": _services(services) if scope.kind is ScopeKind.TEAM else None,
        "failures": _capped([_failure_line(item, period.tz) for item in lists.failures]),
        "open_failures": _open_failures(current, lists.open_failures, period.tz),
        "slowest": [_slow_line(item) for item in lists.slowest[:SLOWEST]],
        "notes": _notes(current),
        "metrics": dict(current),
    }


def _keys(
    current: Mapping[str, Any], previous: Mapping[str, Any], stored_previous: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    now_figures = key_figures(current)
    recomputed = key_figures(previous)
    stored: dict[str, Any] = {}
    if stored_previous is not None:
        stored = {item["key"]: item for item in stored_previous.get("keys", []) if "key" in item}
    keys = []
    for key in KEYS:
        before = stored.get(key)
        shown_before = {"value": before["value"], "band": before.get("band")} if before else recomputed[key]
        restated = None
        if before is not None and figure_text(shown_before) != figure_text(recomputed[key]):
            restated = recomputed[key]
        keys.append(
            {"key": key, "title": TITLES[key], **now_figures[key], "previous": shown_before, "restated": restated}
        )
    return keys


def _services(services: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    def deploys(item: tuple[str, Mapping[str, Any]]) -> int:
        return int(item[1]["deployment_frequency"]["successful_deployments"])

    ordered = sorted(services, key=lambda item: (-deploys(item), item[0]))
    rows = []
    for name, metrics in ordered[:SERVICE_ROWS]:
        failures = metrics["change_failure_rate"]
        finished = int(failures["finished_deployments"])
        rate = f"{percent(failures['rate'])} ({failures['failed_deployments']}/{finished})" if finished else "—"
        rows.append(
            [
                escape(truncate(name, NAME_WIDTH)),
                str(deploys((name, metrics))),
                hours(metrics["lead_time"]["median_s"]),
                rate,
                hours(metrics["time_to_restore"]["median_s"]),
            ]
        )
    return {"rows": rows, "more": max(0, len(ordered) - SERVICE_ROWS)}


def service_table(services: Mapping[str, Any]) -> str:
    """The per-service table as aligned monospace text (a code block in the message)."""
    header = ["service", "deploys", "lead time", "failure rate", "restore"]
    rows = [header, *services["rows"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _capped(lines: list[str], limit: int = LIST_ROWS) -> dict[str, Any]:
    return {"lines": lines[:limit], "more": max(0, len(lines) - limit)}


def _failure_line(item: FailedDeployment, tz: str) -> str:
    return (
        f"D-{item.deployment_id} *{escape(item.service)}* `{escape(item.version)}` "
        f"{CAUSES.get(item.cause, escape(item.cause))}, {local_time(item.finished_at, tz)}"
    )


def _open_failures(current: Mapping[str, Any], items: Sequence[OpenFailure], tz: str) -> dict[str, Any]:
    restore = current["time_to_restore"]
    count = int(restore["open_failures_at_window_end"])
    if count == 0:
        summary = "None at the end of the week."
    else:
        oldest = hours(restore["oldest_open_failure_age_s"])
        summary = (
            f"{_plural(count, 'failure episode')} not restored by the end of the week; "
            f"the oldest began {oldest} before it ended."
        )
    lines = [
        f"*{escape(item.service)}* since D-{item.deployment_id} `{escape(item.version)}`, "
        f"{local_time(item.since, tz)} ({_plural(item.failures, 'failed deployment')})"
        for item in items
    ]
    return {"summary": summary, **_capped(lines)}


def _slow_line(item: SlowChange) -> str:
    return f"*{escape(item.service)}* `{escape(item.version)}` (D-{item.deployment_id}): {hours(item.seconds)}"


def _notes(current: Mapping[str, Any]) -> list[str]:
    notes = [FOOTNOTE]
    running = int(current.get("in_flight_at_window_end") or 0)
    if running:
        notes.append(
            f"In flight at the end of the week: {_plural(running, 'deployment')} "
            "(a deployment counts in the week it finishes)."
        )
    return notes

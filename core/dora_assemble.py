"""The spec's machine-readable object from ``MetricInputs``: statistics, the S5 calendar, bands, rounding.

Everything is computed exactly (integer microseconds and fractions) and rounded once, for display:
durations to milliseconds, fractions to 6 decimals. Bands compare the unrounded values (S7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from fractions import Fraction
from typing import Any

from core.dora import (
    INSUFFICIENT,
    LOOKBACK_WEEKS,
    MIN_WEEKS,
    SPEC,
    MetricInputs,
    Scope,
    ScopeKind,
    Window,
    band_of,
    exact_percentile,
    zone_of,
)

MICRO = 1_000_000
HALF = Fraction(1, 2)
P90 = Fraction(9, 10)


def micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * MICRO + delta.microseconds


def sample_micros(samples: Sequence[float]) -> list[int]:
    """Seconds read to the microsecond, so both paths agree whatever float noise their arithmetic left."""
    return [round(s * MICRO) for s in samples]


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown_seconds(value: Fraction | None) -> float | None:
    """Seconds rounded to the millisecond."""
    return None if value is None else float(round(value, 3))


def shown_fraction(value: Fraction | None) -> float | None:
    return None if value is None else float(round(value, 6))


@dataclass(frozen=True)
class Durations:
    count: int
    median: Fraction | None  # seconds, exact
    p90: Fraction | None


def durations(samples: Sequence[float]) -> Durations:
    values = sample_micros(samples)
    median, p90 = exact_percentile(values, HALF), exact_percentile(values, P90)
    return Durations(
        len(values),
        None if median is None else median / MICRO,
        None if p90 is None else p90 / MICRO,
    )


def local_date(instant: datetime, zone: tzinfo) -> date:
    return instant.astimezone(zone).date()


@dataclass(frozen=True)
class Classification:
    weeks: list[int]  # deploy days of each bucket, newest first

    @property
    def sufficient(self) -> bool:
        return len(self.weeks) >= MIN_WEEKS

    def blocks(self) -> list[list[int]]:
        """Whole 4-week blocks, newest first; a remainder of older buckets is left out."""
        whole = len(self.weeks) // 4 * 4
        return [self.weeks[i : i + 4] for i in range(0, whole, 4)]

    def median_days_per_week(self) -> Fraction | None:
        return exact_percentile(self.weeks, HALF) if self.sufficient else None

    def median_deployed_weeks_per_block(self) -> Fraction | None:
        counts = [sum(1 for days in block if days) for block in self.blocks()]
        return exact_percentile(counts, HALF) if self.sufficient else None

    def median_days_per_block(self) -> Fraction | None:
        return exact_percentile([sum(block) for block in self.blocks()], HALF) if self.sufficient else None

    def fourkeys_class(self) -> str:
        if not self.sufficient:
            return INSUFFICIENT
        per_week = self.median_days_per_week()
        deployed = exact_percentile([1 if days else 0 for days in self.weeks], HALF)
        per_block = self.median_deployed_weeks_per_block()
        assert per_week is not None and deployed is not None and per_block is not None
        if per_week >= 3:
            return "daily"
        if deployed >= 1:
            return "weekly"
        return "monthly" if per_block >= 1 else "yearly"

    def band(self) -> str:
        if not self.sufficient:
            return INSUFFICIENT
        band = band_of("deployment_frequency", self.median_days_per_week(), per_4w_block=self.median_days_per_block())
        assert band is not None
        return band


def classify(inputs: MetricInputs, window: Window, zone: tzinfo) -> Classification:
    """S5: up to 12 buckets of 7 local days, newest first, the newest ending on the local date of the
    instant just before the window's end; building stops at the first bucket that would start before
    the local date of ``data_start``. Every success in scope finished before the end counts."""
    data_start = inputs.data_start or window.data_start
    if data_start is None:
        return Classification([])
    first_day = local_date(data_start, zone)
    last_day = local_date(window.end - timedelta(microseconds=1), zone)
    days = {local_date(t, zone) for t in inputs.success_finishes if t < window.end}
    weeks: list[int] = []
    for k in range(LOOKBACK_WEEKS):
        bucket_end = last_day - timedelta(days=7 * k)
        bucket_start = bucket_end - timedelta(days=6)
        if bucket_start < first_day:
            break
        weeks.append(sum(1 for d in days if bucket_start <= d <= bucket_end))
    return Classification(weeks)


def frequency_object(inputs: MetricInputs, window: Window, zone: tzinfo) -> dict[str, Any]:
    length = micros(window.end - window.start)
    per_day = Fraction(inputs.successful_deployments * 86400 * MICRO, length)
    deploy_days = {local_date(t, zone) for t in inputs.success_finishes if window.start <= t < window.end}
    c = classify(inputs, window, zone)
    return {
        "successful_deployments": inputs.successful_deployments,
        "per_day": shown_fraction(per_day),
        "per_week": shown_fraction(per_day * 7),
        "deploy_days": len(deploy_days),
        "classification": {
            "lookback_weeks_used": len(c.weeks),
            "fourkeys_class": c.fourkeys_class(),
            "band_2023": c.band(),
            "median_deploy_days_per_week": shown_fraction(c.median_days_per_week()),
            "weeks_with_deploy": sum(1 for days in c.weeks if days) if c.sufficient else None,
            "median_deployed_weeks_per_4w_block": shown_fraction(c.median_deployed_weeks_per_block()),
            "median_deploy_days_per_4w_block": shown_fraction(c.median_days_per_block()),
        },
    }


def metrics_object(inputs: MetricInputs, scope: Scope, window: Window) -> dict[str, Any]:
    if not window.start < window.end:
        raise ValueError("a window must start before it ends (build it with make_window)")
    zone = zone_of(window)
    lead = durations(inputs.lead_time_samples)
    restore = durations(inputs.restore_samples)
    incidents = durations(inputs.incident_duration_samples)
    causes = {cause: inputs.failed_by_cause.get(cause, 0) for cause in ("failed", "rolled_back", "incident")}
    failed = sum(causes.values())
    rate = Fraction(failed, inputs.finished_deployments) if inputs.finished_deployments else None
    oldest = inputs.oldest_open_failure_start
    return {
        "spec": SPEC,
        "window": {
            "start": utc_text(window.start),
            "end": utc_text(window.end),
            "days": shown_fraction(Fraction(micros(window.end - window.start), 86400 * MICRO)),
            "tz": window.tz,
        },
        "scope": {"kind": scope.kind.value, "name": None if scope.kind is ScopeKind.ORG else scope.name},
        "deployment_frequency": frequency_object(inputs, window, zone),
        "lead_time": {
            "samples": lead.count,
            "median_s": shown_seconds(lead.median),
            "p90_s": shown_seconds(lead.p90),
            "excluded_missing_committed_at": inputs.excluded_missing_committed_at,
            "excluded_negative": inputs.excluded_negative,
            "band_2023": band_of("lead_time", lead.median),
        },
        "change_failure_rate": {
            "finished_deployments": inputs.finished_deployments,
            "failed_deployments": failed,
            "by_cause": causes,
            "rate": shown_fraction(rate),
            "band_2023": band_of("change_failure_rate", rate),
        },
        "time_to_restore": {
            "restored_episodes": restore.count,
            "median_s": shown_seconds(restore.median),
            "p90_s": shown_seconds(restore.p90),
            "open_failures_at_window_end": inputs.open_failures_at_window_end,
            "oldest_open_failure_age_s": (
                None if oldest is None else shown_seconds(Fraction(micros(window.end - oldest), MICRO))
            ),
            "band_2023": band_of("time_to_restore", restore.median),
        },
        "incident_duration": {
            "resolved_incidents": incidents.count,
            "median_s": shown_seconds(incidents.median),
            "p90_s": shown_seconds(incidents.p90),
        },
        "in_flight_at_window_end": inputs.in_flight_at_window_end,
    }

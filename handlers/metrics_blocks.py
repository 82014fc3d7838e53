"""The ``/release metrics`` reply: the four DORA keys with band, trend and a 12-week sparkline each."""

from __future__ import annotations

from datetime import datetime

from core.dora import ScopeKind, parse_zone
from core.metrics_report import (
    GAP,
    WEEKS,
    Key,
    MetricsReport,
    Result,
    Trend,
    band_table_name,
    headline,
    humanise,
    number,
    percent,
    sparkline,
    trend,
    weekly_values,
)
from core.text import escape
from handlers.blocks import Block, Rendered, context, header, section

TITLES = {
    Key.DEPLOYMENT_FREQUENCY: "Deployment frequency",
    Key.LEAD_TIME: "Lead time for changes",
    Key.CHANGE_FAILURE_RATE: "Change failure rate",
    Key.TIME_TO_RESTORE: "Time to restore",
}
WEEKLY_MEANING = {
    Key.DEPLOYMENT_FREQUENCY: "successful deployments a week",
    Key.LEAD_TIME: "median a week",
    Key.CHANGE_FAILURE_RATE: "rate a week",
    Key.TIME_TO_RESTORE: "median a week",
}


def plural(count: int, singular: str, many: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def scope_title(report: MetricsReport) -> str:
    if report.scope.kind is ScopeKind.ORG:
        return "whole organisation"
    return f"{report.scope.kind.value} {report.scope.name}"


def local_time(instant: datetime, tz: str) -> str:
    local = instant.astimezone(parse_zone(tz))
    return f"{local.day} {local:%b %Y %H:%M}"


def _band(result: Result, key: Key) -> str:
    section_ = result[key.value]
    if key is Key.DEPLOYMENT_FREQUENCY:
        classification = section_["classification"]
        band = classification["band_2023"]
        if band == "insufficient_data":
            weeks = classification["lookback_weeks_used"]
            return (
                f"Band: none yet, it needs 4 whole weeks of history and there {'is' if weeks == 1 else 'are'} "
                f"{weeks} ({band_table_name()})"
            )
        median = number(classification["median_deploy_days_per_week"])
        days = "deploy day" if median == "1" else "deploy days"
        return (
            f"Band: *{band}* ({band_table_name()}), a median of {median} {days} a week over "
            f"{plural(classification['lookback_weeks_used'], 'week')}"
        )
    band = section_["band_2023"]
    if band is None:
        return "Band: none (no data)"
    return f"Band: *{band}* ({band_table_name()})"


def _headline(result: Result, key: Key) -> str:
    data = result[key.value]
    if key is Key.DEPLOYMENT_FREQUENCY:
        count = data["successful_deployments"]
        if not count:
            return "no data (0 successful deployments)"
        rate = f"{number(data['per_day'])} a day" if data["per_day"] >= 1 else f"{number(data['per_week'])} a week"
        days = plural(data["deploy_days"], "deploy day")
        return f"{plural(count, 'successful deployment')}, {rate}, on {days}"
    if key is Key.CHANGE_FAILURE_RATE:
        finished = data["finished_deployments"]
        if data["rate"] is None:
            return f"no data ({finished} finished deployments)"
        causes = data["by_cause"]
        return (
            f"{percent(data['rate'])}, {data['failed_deployments']} of {plural(finished, 'finished deployment')} "
            f"({causes['failed']} failed, {causes['rolled_back']} rolled back, {causes['incident']} with an incident)"
        )
    count = data["samples"] if key is Key.LEAD_TIME else data["restored_episodes"]
    what = plural(count, "release") if key is Key.LEAD_TIME else plural(count, "restored outage")
    if data["median_s"] is None:
        return f"no data ({what})"
    return f"median {humanise(data['median_s'])}, p90 {humanise(data['p90_s'])} ({what})"


def _notes(result: Result, key: Key) -> list[str]:
    data = result[key.value]
    notes = []
    if key is Key.LEAD_TIME:
        missing, negative = data["excluded_missing_committed_at"], data["excluded_negative"]
        if missing or negative:
            notes.append(
                f"Left out: {missing} without a commit time, {negative} committed after they were deployed (clock skew)"
            )
    if key is Key.TIME_TO_RESTORE and data["open_failures_at_window_end"]:
        open_now = plural(data["open_failures_at_window_end"], "outage")
        notes.append(f"Not restored yet: {open_now}, the oldest for {humanise(data['oldest_open_failure_age_s'])}")
    return notes


def _trend(key: Key, report: MetricsReport) -> str:
    change: Trend = trend(key, report.current, report.previous)
    against = f"the previous {report.days} days"
    if change.direction is None:
        if headline(report.current, key) is None:
            where = "this period" if change.previous is not None else "either period"
        else:
            where = against
        return f"Trend: none, no data in {where}"
    verdict = "" if change.better is None else (": better" if change.better else ": worse")
    return f"Trend: {change.direction.value} {change.change} vs {against} ({change.previous}){verdict}"


def _weekly(key: Key, report: MetricsReport) -> str:
    values = weekly_values(key, report.weekly)
    line = f"Last {WEEKS} weeks: `{sparkline(values)}`"
    present = [v for v in values if v is not None]
    if not present:
        return f"{line} (no data)"
    top = max(present)
    if key is Key.DEPLOYMENT_FREQUENCY:
        highest = str(int(top))
    elif key is Key.CHANGE_FAILURE_RATE:
        highest = percent(top)
    else:
        highest = humanise(top)
    return f"{line} ({WEEKLY_MEANING[key]}, highest {highest})"


def key_text(key: Key, report: MetricsReport) -> str:
    lines = [
        f"*{TITLES[key]}*: {_headline(report.current, key)}",
        *_notes(report.current, key),
        _band(report.current, key),
        _trend(key, report),
        _weekly(key, report),
    ]
    return "\n".join(lines)


def period_text(report: MetricsReport) -> str:
    window = report.current["window"]
    start, end = (datetime.fromisoformat(window[edge].replace("Z", "+00:00")) for edge in ("start", "end"))
    text = (
        f"{local_time(start, report.tz)} to {local_time(end, report.tz)} ({escape(report.tz)}), "
        f"against the {report.days} days before."
    )
    in_flight = report.current["in_flight_at_window_end"]
    if in_flight:
        text += f" Still in progress, not counted: {plural(in_flight, 'production deployment')}."
    if report.chosen_for_you and report.scope.kind is ScopeKind.TEAM:
        text += " Your team; `/release metrics org` shows everyone."
    elif report.chosen_for_you:
        text += " You are in no team, so this is everyone; `/release metrics team <team>` shows one team."
    return text


def definitions(report: MetricsReport) -> str:
    return (
        "Production deployments only. *Deployment frequency*: successful deployments; its band counts deploy "
        "days per week over up to 12 weeks. *Lead time*: from the oldest commit of each release to its first "
        "successful production deployment, so it reads higher than a per-commit median. *Change failure rate*: "
        "finished deployments that failed, were rolled back or had an incident attributed. *Time to restore*: "
        "from a failure to the next successful deployment of the service; failures fixed by the same "
        "deployment are one outage. Medians and p90 interpolate between samples. The sparklines show the "
        f"{WEEKS} whole weeks before this one, each from Monday 00:00 in {escape(report.tz)}; `{GAP}` is a week "
        f"without data. Bands: the {band_table_name()}, which change with each year's survey."
    )


def metrics_reply(report: MetricsReport) -> Rendered:
    title = f"DORA metrics: {scope_title(report)}, last {report.days} days"
    keys = [key_text(key, report) for key in Key]
    period = period_text(report)
    footnote = definitions(report)
    blocks: list[Block] = [
        header(title),
        context(period),
        *(section(text) for text in keys),
        context(footnote),
    ]
    fallback = "\n\n".join([f"*{escape(title)}*\n{period}", *keys])
    return fallback, blocks

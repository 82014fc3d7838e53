"""``releasebot import FILE`` (deployment history, JSON Lines) and ``releasebot metrics`` (DORA, spec 1.0)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NoReturn, Protocol

from core.dora import make_window, parse_instant, parse_scope, to_json
from core.dora_import import ImportRejected, ImportReport, import_history
from core.dora_queries import metrics
from core.errors import ReleasebotError
from core.model import Actor, Role, Source
from core.text import unescape

EXIT_FAILED = 1
EXIT_USAGE = 2
CLI_ACTOR = Actor(user_id="cli", role=Role.ADMIN, name="cli", source=Source.CLI)
EXAMPLE = "releasebot metrics --scope team:payments --start 2026-10-26T00:00:00Z --end 2026-11-02T00:00:00Z"


class DatabaseSettings(Protocol):
    @property
    def database_url_resolved(self) -> str: ...


def add_parsers(sub: Any) -> None:
    """Register ``import`` and ``metrics`` on the command line's subcommands."""
    history = sub.add_parser("import", help="import deployment history (JSON Lines) for the DORA metrics")
    history.add_argument("file", type=Path, help="one JSON object per line (see the README)")
    report = sub.add_parser("metrics", help="the DORA metrics of a scope and window (spec dora-bot-spec/1.0)")
    report.add_argument("--scope", help="org, team:NAME or service:NAME")
    report.add_argument("--start", help="the window's start, ISO 8601 with an offset (2026-10-26T00:00:00Z)")
    report.add_argument("--end", help="the window's end (excluded), ISO 8601 with an offset")
    report.add_argument("--tz", default="UTC", help="calendar for deploy days: UTC, an IANA zone or +09:00")
    report.add_argument("--data-start", help="when the data begins (default: the earliest recorded deployment)")
    report.add_argument("--json", action="store_true", help="print the spec's JSON object")
    report.error = types.MethodType(_one_line_error, report)  # type: ignore[method-assign]


def _one_line_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    _err(f"{message}; for example: {EXAMPLE}")
    sys.exit(EXIT_USAGE)


def _err(message: str) -> None:
    print(f"releasebot: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------
# releasebot metrics


async def run_metrics(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from storage.engine import create_engine, session_factory
    from storage.uow import unit_of_work_factory

    try:
        scope, window = _metrics_arguments(args)
    except ReleasebotError as error:
        _err(_one_line(error))
        return EXIT_USAGE
    engine = create_engine(settings.database_url_resolved, pool_size=2)
    try:
        async with unit_of_work_factory(session_factory(engine), lambda: datetime.now(UTC))() as uow:
            result = await metrics(uow, scope, window)
    except ReleasebotError as error:
        _err(_one_line(error))
        return EXIT_USAGE
    except (SQLAlchemyError, OSError) as error:
        _err(f"cannot read the metrics: {_first_line(error)}")
        return EXIT_FAILED
    finally:
        await engine.dispose()
    print(to_json(result) if args.json else render_table(result))
    return 0


def _metrics_arguments(args: argparse.Namespace) -> tuple[Any, Any]:
    for option, value, example in (
        ("--scope", args.scope, "--scope org"),
        ("--start", args.start, "--start 2026-10-26T00:00:00Z"),
        ("--end", args.end, "--end 2026-11-02T00:00:00Z"),
    ):
        if not value:
            raise ReleasebotError(f"{option} is required.", hint=f"Add it, like `{example}`.")
    scope = parse_scope(args.scope)
    start = parse_instant(args.start, what="start")
    end = parse_instant(args.end, what="end")
    data_start = parse_instant(args.data_start, what="data start") if args.data_start else None
    return scope, make_window(start, end, args.tz.strip(), data_start)


def _one_line(error: ReleasebotError) -> str:
    text = error.message if not error.hint else f"{error.message} {error.hint}"
    return unescape(text).replace("\n", " ")


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _band(value: str | None) -> str:
    return f"  [{value}]" if value else ""


def render_table(result: dict[str, Any]) -> str:
    """The spec's object as a few readable lines (rates to 0.1 percentage point, hours to 1 decimal)."""
    window, scope = result["window"], result["scope"]
    freq, lead = result["deployment_frequency"], result["lead_time"]
    cfr, ttr, incidents = result["change_failure_rate"], result["time_to_restore"], result["incident_duration"]
    klass = freq["classification"]
    causes = cfr["by_cause"]
    rate = "-" if cfr["rate"] is None else f"{cfr['rate'] * 100:.1f}%"
    oldest = ttr["oldest_open_failure_age_s"]
    scope_text = scope["kind"] if scope["name"] is None else f"{scope['kind']} {scope['name']}"
    rows = [
        ("Scope", scope_text),
        ("Window", f"{window['start']} to {window['end']} ({window['days']:g} days, {window['tz']})"),
        (
            "Deployment frequency",
            f"{freq['successful_deployments']:,} successful, {freq['per_day']:.2f}/day, {freq['per_week']:.1f}/week, "
            f"{freq['deploy_days']} deploy days; fourkeys {klass['fourkeys_class']}, {klass['lookback_weeks_used']} "
            f"weeks looked at{_band(klass['band_2023'])}",
        ),
        (
            "Lead time for changes",
            f"median {_duration(lead['median_s'])}, p90 {_duration(lead['p90_s'])} ({lead['samples']:,} commits; "
            f"left out: {lead['excluded_missing_committed_at']:,} without commit time, "
            f"{lead['excluded_negative']:,} negative){_band(lead['band_2023'])}",
        ),
        (
            "Change failure rate",
            f"{rate} ({cfr['failed_deployments']:,} of {cfr['finished_deployments']:,}: {causes['failed']:,} failed, "
            f"{causes['rolled_back']:,} rolled back, {causes['incident']:,} with an incident){_band(cfr['band_2023'])}",
        ),
        (
            "Time to restore",
            f"median {_duration(ttr['median_s'])}, p90 {_duration(ttr['p90_s'])} ({ttr['restored_episodes']:,} "
            f"restored); open at the end: {ttr['open_failures_at_window_end']:,}"
            + (f", oldest {_duration(oldest)}" if oldest is not None else "")
            + _band(ttr["band_2023"]),
        ),
        (
            "Incident duration",
            f"median {_duration(incidents['median_s'])}, p90 {_duration(incidents['p90_s'])} "
            f"({incidents['resolved_incidents']:,} resolved)",
        ),
        ("In flight at the end", f"{result['in_flight_at_window_end']:,}"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    lines.append(f"Bands: dora-2023 ({result['spec']}); lead time counts from a release's earliest commit.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# releasebot import FILE


async def run_import(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from storage.dora_import import refresh_statistics
    from storage.engine import create_engine, session_factory
    from storage.uow import unit_of_work_factory

    path: Path = args.file
    try:
        handle = path.open("rb")
    except OSError as error:
        _err(f"cannot read {path}: {error.strerror or error}")
        return EXIT_USAGE
    engine = create_engine(settings.database_url_resolved, pool_size=2)
    started = time.monotonic()
    progress = Progress(handle, path.name, sys.stderr)
    try:
        now = datetime.now(UTC)
        async with unit_of_work_factory(session_factory(engine), lambda: now)() as uow:
            report = await import_history(
                uow,
                progress.lines(),
                actor=CLI_ACTOR,
                source=f"import:{path.name}",
                now=now,
                request_id=f"cli-{uuid.uuid4().hex[:12]}",
            )
            await uow.commit()
        progress.clear()
        await refresh_statistics(engine)
    except ImportRejected as rejected:
        progress.clear()
        for problem in rejected.problems:
            print(problem, file=sys.stderr)
        _err(f"{path.name}: {_one_line(rejected)}")
        return EXIT_USAGE
    except ReleasebotError as error:
        progress.clear()
        _err(_one_line(error))
        return EXIT_USAGE
    except (SQLAlchemyError, OSError) as error:
        progress.clear()
        _err(f"cannot import {path.name}: {_first_line(error)}; nothing was imported")
        return EXIT_FAILED
    finally:
        handle.close()
        await engine.dispose()
    print(summary(report, path.name, time.monotonic() - started))
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def summary(report: ImportReport, name: str, seconds: float) -> str:
    rate = f" ({report.records / seconds:,.0f} lines/s)" if seconds > 0 and report.records else ""
    lines = [
        f"Imported {report.imported:,} deployments from {name} in {seconds:.1f} s{rate}: "
        f"{report.skipped:,} were imported before and skipped; {_count(report.releases_created, 'new release')}, "
        f"{_count(report.incidents, 'incident')}."
    ]
    for what, names in (
        ("teams", report.teams_created),
        ("services", report.services_created),
        ("environments", report.environments_created),
    ):
        if names:
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            lines.append(f"Created {len(names):,} {what}: {shown}.")
    if report.environments_created:
        lines.append(
            "Only production environments count for the metrics (`production` is one); flag another with "
            "`/release env add NAME production`."
        )
    if report.services_without_channel:
        lines.append(
            f"{len(report.services_without_channel):,} new services have no Slack channel yet: set one with "
            "`/release service add NAME team TEAM channel #channel`."
        )
    return "\n".join(lines)


class Progress:
    """Reads the file line by line; on a terminal, draws a progress bar on standard error (plain text)."""

    WIDTH = 30
    EVERY_S = 0.25

    def __init__(self, handle: IO[bytes], name: str, out: IO[str]) -> None:
        self.handle, self.name, self.out = handle, name, out
        self.shown = out.isatty()
        try:
            self.size = os.fstat(handle.fileno()).st_size
        except (OSError, ValueError):
            self.size = 0
        self.drawn = False

    def lines(self) -> Iterator[bytes]:
        if not self.shown:
            yield from self.handle
            return
        done, count, last = 0, 0, 0.0
        for line in self.handle:
            done += len(line)
            count += 1
            if count % 1000 == 0 and (now := time.monotonic()) - last >= self.EVERY_S:
                last = now
                self._draw(done, count)
            yield line
        self._draw(done, count)

    def _draw(self, done: int, count: int) -> None:
        share = min(1.0, done / self.size) if self.size else 1.0
        filled = int(share * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.out.write(f"\rimporting {self.name} [{bar}] {share * 100:5.1f}% {count:,} lines")
        self.out.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.out.write("\r" + " " * (self.WIDTH + len(self.name) + 40) + "\r")
            self.out.flush()
            self.drawn = False

"""The DORA metrics at scale: import a million deployments, then time the metrics and the digests' queries.

    python -m bench.dora [--deployments 1000000] [--database-url postgresql+asyncpg://...]
                         [--no-sqlite] [--no-postgres] [--seed 7] [--json]

Writes a realistic history (``bench.dora_history``: 500 services, 50 teams, dev, staging and production,
two years) as JSON Lines in a temporary directory, then for each database, in a child process of its own:
imports it with the real import path (``core.dora_import.import_history``, one transaction, then the
statistics refresh ``releasebot import`` runs), and times the org-wide metrics of the last 26 weeks, one
team's, and the digest figures of all 50 teams (each team's last full week and the week before: 100 calls
of ``core.dora_queries.metrics``). Prints the import rate, query times (median of 3 runs, and the first),
peak memory (ru_maxrss; tracemalloc's peak for the queries) and PASS/FAIL per target. SQLite runs in the
temporary directory; PostgreSQL in a throwaway database on the server of ``--database-url`` (or
TEST_DATABASE_URL), dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.dora_history import END, TEAMS, write_history

TARGETS = {  # (what, bound, unit, databases it applies to)
    "import_rows_per_s": ("import", 20_000, "rows/s", {"postgresql"}),
    "org_26w_s": ("org-wide 26-week metrics", {"postgresql": 1.0, "sqlite": 3.0}, "s", {"postgresql", "sqlite"}),
    "digests_s": ("all 50 team digests", 10.0, "s", {"postgresql", "sqlite"}),
    "peak_rss_mb": ("peak memory", 400, "MB", {"postgresql", "sqlite"}),
}
RUNS = 3


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _timed(call: Callable[[], Awaitable[Any]], runs: int = RUNS) -> tuple[float, float]:
    """(first run, median of ``runs``) in seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times[0], statistics.median(times)


async def measure(url: str, history: Path, deployments: int) -> dict[str, Any]:
    """Runs in the child: import, then the queries; every figure as a number."""
    from core.dora import Scope, ScopeKind, make_window
    from core.dora_import import import_history
    from core.dora_queries import metrics
    from core.model import Actor, Role, Source
    from storage.dora_import import refresh_statistics
    from storage.engine import create_engine, session_factory
    from storage.schema import upgrade
    from storage.uow import unit_of_work_factory

    engine = create_engine(url, pool_size=2)
    result: dict[str, Any] = {"database": engine.dialect.name, "load_before": _load()}
    try:
        await upgrade(engine)
        uow = unit_of_work_factory(session_factory(engine), lambda: datetime.now(UTC))
        actor = Actor(user_id="cli", role=Role.ADMIN, source=Source.CLI)
        cpu = time.process_time()
        started = time.perf_counter()
        with history.open("rb") as lines:
            async with uow() as work:
                report = await import_history(
                    work, lines, actor=actor, source="bench", now=datetime.now(UTC), request_id=None
                )
                await work.commit()
        imported_s = time.perf_counter() - started
        result["import_cpu_share"] = (time.process_time() - cpu) / imported_s
        started = time.perf_counter()
        await refresh_statistics(engine)
        result["analyze_s"] = time.perf_counter() - started
        rows = report.imported + report.releases_created + report.incidents
        result.update(
            imported=report.imported,
            releases=report.releases_created,
            incidents=report.incidents,
            import_s=imported_s,
            import_rows_per_s=report.imported / imported_s,
            import_all_rows_per_s=rows / imported_s,
            rss_after_import_mb=_rss_mb(),
            load_after_import=_load(),
        )
        async with uow() as work:
            org = Scope(ScopeKind.ORG)
            team = Scope(ScopeKind.TEAM, "team-07")
            half_year = make_window(END - timedelta(weeks=26), END, "UTC")
            result["org_26w_first_s"], result["org_26w_s"] = await _timed(lambda: metrics(work, org, half_year))
            result["team_26w_first_s"], result["team_26w_s"] = await _timed(lambda: metrics(work, team, half_year))
            figures = await metrics(work, org, half_year)
            result["org_26w_successes"] = figures["deployment_frequency"]["successful_deployments"]
            result["org_26w_lead_time_samples"] = figures["lead_time"]["samples"]

            async def digests() -> None:
                for number in range(TEAMS):
                    scope = Scope(ScopeKind.TEAM, f"team-{number:02d}")
                    for weeks_back in (1, 2):  # the last full week and the week before
                        end = END - timedelta(weeks=weeks_back - 1)
                        await metrics(work, scope, make_window(end - timedelta(weeks=1), end, "UTC"))

            result["digests_first_s"], result["digests_s"] = await _timed(digests, runs=1)
            tracemalloc.start()  # not while timing: it slows every allocation down
            await metrics(work, org, half_year)
            result["query_traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        result["peak_rss_mb"] = _rss_mb()
        result["load_after"] = _load()
    finally:
        await engine.dispose()
    return result


def _child(database: str, url: str, history: Path, deployments: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.dora", "--child", url, "--history", str(history)]
    command += ["--deployments", str(deployments)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{database} run failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _verdicts(result: dict[str, Any]) -> list[str]:
    database = result["database"]
    lines = []
    for key, (what, bound, unit, databases) in TARGETS.items():
        if database not in databases:
            continue
        limit = bound[database] if isinstance(bound, dict) else bound
        value = result[key]
        passed = value >= limit if key == "import_rows_per_s" else value < limit
        sign = ">=" if key == "import_rows_per_s" else "<"
        lines.append(f"  {'PASS' if passed else 'FAIL'}  {what}: {value:,.2f} {unit} (target {sign} {limit:,} {unit})")
    return lines


def _report(result: dict[str, Any]) -> str:
    r = result
    return "\n".join(
        [
            f"{r['database']}: {r['load_before']} at the start",
            f"  import: {r['imported']:,} deployments, {r['releases']:,} releases, {r['incidents']:,} incidents in "
            f"{r['import_s']:.1f} s: {r['import_rows_per_s']:,.0f} deployments/s ({r['import_all_rows_per_s']:,.0f} "
            f"rows/s in all; the importing process used {r['import_cpu_share'] * 100:.0f}% of a core); "
            f"statistics {r['analyze_s']:.1f} s; {r['load_after_import']}",
            f"  org-wide, 26 weeks: {r['org_26w_s'] * 1000:,.0f} ms (median of {RUNS}; first {r['org_26w_first_s'] * 1000:,.0f} "
            f"ms) over {r['org_26w_successes']:,} successes and {r['org_26w_lead_time_samples']:,} lead-time samples",
            f"  team-07, 26 weeks: {r['team_26w_s'] * 1000:,.0f} ms (median of {RUNS}; first "
            f"{r['team_26w_first_s'] * 1000:,.0f} ms)",
            f"  50 team digests (100 metrics calls): {r['digests_s']:.2f} s",
            f"  memory: peak RSS {r['peak_rss_mb']:.0f} MB ({r['rss_after_import_mb']:.0f} MB after the import); "
            f"tracemalloc peak of one org-wide call {r['query_traced_peak_mb']:.1f} MB; {r['load_after']} at the end",
            *_verdicts(r),
        ]
    )


async def _postgres(server_url: str, history: Path, deployments: int) -> dict[str, Any]:
    from bench.audit import throwaway_postgres

    async with throwaway_postgres(server_url) as url:
        return await asyncio.to_thread(_child, "PostgreSQL", url, history, deployments)


def run(args: argparse.Namespace) -> None:
    print(
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"SQLite {sqlite3.sqlite_version}; {_load()}"
    )
    server_url = args.database_url or os.environ.get("TEST_DATABASE_URL")
    results = []
    with tempfile.TemporaryDirectory(prefix="releasebot-dora-") as tmp:
        history = Path(tmp) / "history.jsonl"
        started = time.perf_counter()
        production = write_history(history, args.deployments, args.seed)
        print(
            f"wrote {args.deployments:,} deployments ({production:,} to production) as JSON Lines, "
            f"{history.stat().st_size / 2**20:.0f} MB, in {time.perf_counter() - started:.1f} s"
        )
        if not args.no_sqlite:
            from storage.engine import default_sqlite_url

            results.append(_child("SQLite", default_sqlite_url(Path(tmp)), history, args.deployments))
            print(_report(results[-1]), flush=True)
        if args.no_postgres or not server_url:
            print("PostgreSQL skipped (give --database-url or set TEST_DATABASE_URL)")
        else:
            results.append(asyncio.run(_postgres(server_url, history, args.deployments)))
            print(_report(results[-1]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dora", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--deployments", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a PostgreSQL server to create a throwaway database on")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="also print every figure as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--history", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(measure(args.child, args.history, args.deployments))))
        return
    run(args)


if __name__ == "__main__":
    main()

"""The pipeline runner's own overhead per stage, on SQLite and PostgreSQL.

    python -m bench.pipeline [--services 50] [--rounds 4] [--database-url postgresql+asyncpg://...] [--json]

Starts the real ``Runtime`` (store, delivery worker, pipeline runner) against an in-process fake Slack with
no pacing, so every Slack message the pipeline implies is delivered as it would be. Environment ``bench``
runs three command stages whose command does nothing (``/bin/true``). After one unmeasured warm-up round,
two loads are measured: one service deploying 10 versions one after another (nothing else running: the
uncontended cost), then each of ``--services`` services deploying ``--rounds`` versions one after another,
all services at once (so about that many stages are in flight at any time).

Per stage it reports, as median and p99:

* overhead: the stage's time from claim to report (``started_at`` to ``finished_at`` in the store, both
  taken from the bot's clock) minus the command's own run time, measured by timing the command executor's
  ``run`` around the subprocess (spawn, supervision, exit, output). This is the runner and the store.
* step overhead: from the end of the previous stage (the request, for the first) to the end of this one,
  minus the executor's run: the overhead plus the hand-over to the next stage.
* executor: the executor's ``run`` itself, next to a bare ``/bin/true`` spawned and waited for on an idle
  loop, so the executor's own supervision cost shows.

Then deployments/s from the first request until the last deployment ended; the bot process's CPU time
per stage (every thread; the fake Slack's share included) and as a share of one core (near 100%: the event
loop is saturated and stages queue for it, which the step overhead shows); how long Slack delivery took
to catch up after the last deployment ended; and the peak resident memory (``ru_maxrss``) of the process
running the bot.
SQLite runs in a temporary directory; with ``--database-url`` the same run follows on a fresh PostgreSQL
database created on that server and dropped afterwards. Each database runs in a child process of its own,
so each peak memory figure is its own. The target to compare against: median overhead under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.ack import _cpu_seconds, _others_share, fresh_postgres, percentile
from core.execution import StageExecutor, StageResult, StageRun

STAGES = ("build", "deploy", "verify")
NOOP = "/bin/true"
TARGET_MS = 50.0
MONITOR_POLL_S = 0.005
MONITOR_IDLE_S = 1.0
RUN_TIMEOUT_S = 600.0
CATCH_UP_S = 120.0
BARE_SAMPLES = 50
ALONE_ROUNDS = 10


# --- the bot's side (runs in a child process per database) ------------------------------------------


@dataclass
class TimedCommands:
    """The real command executor, timed around each run: the command's own time, as the bot sees it.
    ``ended`` is called when a deployment's last stage has run, so the bench looks for its end only then."""

    inner: StageExecutor
    ended: Callable[[], None] = lambda: None
    runs: dict[tuple[int, int], float] = field(default_factory=dict)

    async def run(self, run: StageRun, cancelled: asyncio.Event) -> StageResult:
        started = time.perf_counter()
        try:
            return await self.inner.run(run, cancelled)
        finally:
            self.runs[(run.deployment_id, run.position)] = time.perf_counter() - started
            if run.position == len(STAGES) - 1:
                self.ended()

    async def cancel(self, run: StageRun) -> None:
        await self.inner.cancel(run)


class Finished:
    """Tells each waiting service when its deployment ended: one query for all of them, made when some last
    stage has run (and again every few milliseconds until its report is in), or once a second anyway."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.waiting: dict[int, asyncio.Future[str]] = {}
        self.nudge = asyncio.Event()
        self.unseen = 0  # deployments whose last stage ran, not yet seen ended

    def last_stage_ran(self) -> None:
        self.unseen += 1
        self.nudge.set()

    def wait(self, deployment_id: int) -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[deployment_id] = future
        return future

    async def watch(self) -> None:
        from sqlalchemy import select

        from storage.rows import DeploymentRow

        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.nudge.wait(), MONITOR_IDLE_S)
            self.nudge.clear()
            if not self.waiting:
                continue
            async with self.runtime.uow() as uow:
                rows = await uow.session.execute(
                    select(DeploymentRow.id, DeploymentRow.status).where(
                        DeploymentRow.id.in_(list(self.waiting)),
                        DeploymentRow.status.in_(["success", "failed", "cancelled"]),
                    )
                )
                found = rows.all()
            for deployment_id, status in found:
                self.waiting.pop(deployment_id).set_result(status)
            self.unseen = max(0, self.unseen - len(found))
            if self.unseen:  # a last stage ran but its report is not committed yet
                await asyncio.sleep(MONITOR_POLL_S)
                self.nudge.set()


async def declare(runtime: Any, services: int) -> None:
    from core import configuration
    from core.model import Actor, Role, Source, StageSpec

    admin = Actor(user_id="U0BENCHADM", role=Role.ADMIN, source=Source.SLACK)
    common = {"actor": admin, "now": runtime.clock(), "request_id": None}
    async with runtime.uow() as uow:
        await configuration.add_team(uow, name="bench", channel="C0BENCH0000", timezone="UTC", **common)
        for n in range(services):
            channel = f"C0BENCH{n:04d}"
            await configuration.add_service(
                uow, name=f"svc-{n:02d}", team="bench", channel=channel, repo=None, **common
            )
        await configuration.add_environment(uow, name="bench", production=False, order=1, **common)
        await configuration.set_user_role(uow, user_id="U0BENCHDEV", role=Role.DEVELOPER, **common)
        env = await uow.environments.get("bench")
        assert env is not None
        env.stages = [StageSpec(name, "command", command=[NOOP], timeout_s=60) for name in STAGES]
        await uow.environments.upsert(env, now=runtime.clock())
        await uow.commit()


async def deploy_versions(runtime: Any, finished: Finished, service: str, versions: range, ids: list[int]) -> None:
    """One service deploying one version after another, each once the previous one ended."""
    from core.deployments import request_deployment
    from core.model import Actor, Role, Source
    from core.releases import create_release

    developer = Actor(user_id="U0BENCHDEV", role=Role.DEVELOPER, source=Source.SLACK)
    for n in versions:
        version = f"v{n}"
        async with runtime.uow() as uow:
            now = runtime.clock()
            common = {"actor": developer, "service": service, "version": version, "now": now, "request_id": None}
            await create_release(uow, commit=None, notes=None, **common)
            outcome = await request_deployment(uow, environment="bench", **common)
            await uow.commit()
        assert outcome.deployment.id is not None
        ended = finished.wait(outcome.deployment.id)
        runtime.deps.wake_pipeline()
        runtime.deps.wake_delivery()
        status = await ended
        if status != "success":
            raise RuntimeError(f"{outcome.deployment.reference} of {service} ended {status}")
        ids.append(outcome.deployment.id)


async def undelivered(runtime: Any) -> int:
    from sqlalchemy import func, select

    from storage.rows import OutboxRow

    async with runtime.uow() as uow:
        pending = await uow.session.execute(select(func.count(OutboxRow.id)).where(OutboxRow.status == "pending"))
        return int(pending.scalar_one())


async def stage_times(runtime: Any, ids: list[int]) -> list[tuple[int, int, datetime, datetime, datetime]]:
    """(deployment, position, deployment started, stage started, stage finished) of the measured stages."""
    from sqlalchemy import select

    from storage.rows import DeploymentRow, DeploymentStageRow

    async with runtime.uow() as uow:
        rows = await uow.session.execute(
            select(
                DeploymentStageRow.deployment_id,
                DeploymentStageRow.position,
                DeploymentRow.started_at,
                DeploymentStageRow.started_at,
                DeploymentStageRow.finished_at,
            )
            .join(DeploymentRow, DeploymentRow.id == DeploymentStageRow.deployment_id)
            .where(DeploymentStageRow.deployment_id.in_(ids))
            .order_by(DeploymentStageRow.deployment_id, DeploymentStageRow.position)
        )
        return [(d, p, ds, ss, sf) for d, p, ds, ss, sf in rows.all()]


async def bare_noop_s() -> list[float]:
    """``/bin/true`` spawned as the executor spawns it, and waited for, on an idle loop."""
    samples = []
    for _ in range(BARE_SAMPLES):
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            NOOP,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        await process.communicate()
        samples.append(time.perf_counter() - started)
    return samples


def seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


@dataclass
class Phase:
    """One measured load: ``services`` services at once, each deploying ``rounds`` versions in turn."""

    label: str
    services: int
    rounds: int


async def run_phase(
    runtime: Any, finished: Finished, commands: TimedCommands, phase: Phase, first: int
) -> dict[str, Any]:
    names = [f"svc-{n:02d}" for n in range(phase.services)]
    versions = range(first, first + phase.rounds)
    ids: list[int] = []
    cpu_before = _cpu_seconds()
    own_cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(deploy_versions(runtime, finished, name, versions, ids) for name in names)), RUN_TIMEOUT_S
    )
    elapsed = time.perf_counter() - started
    own_cpu = time.process_time() - own_cpu
    deadline = time.monotonic() + CATCH_UP_S
    while await undelivered(runtime) and time.monotonic() < deadline:  # noqa: ASYNC110 - the store is the truth
        await asyncio.sleep(0.01)
    caught_up = time.perf_counter() - started - elapsed
    behind = await undelivered(runtime)
    others = _others_share(cpu_before, _cpu_seconds())
    overhead, step, executor = [], [], []
    previous_end: datetime | None = None
    for deployment_id, position, deployment_started, stage_started, stage_finished in await stage_times(runtime, ids):
        run_s = commands.runs[(deployment_id, position)]
        executor.append(run_s)
        overhead.append(seconds(stage_finished, stage_started) - run_s)
        step_start = deployment_started if position == 0 else previous_end
        assert step_start is not None
        step.append(seconds(stage_finished, step_start) - run_s)
        previous_end = stage_finished
    return {
        "label": phase.label,
        "services": phase.services,
        "deployments": len(ids),
        "stages": len(executor),
        "elapsed_s": elapsed,
        "cpu_s": own_cpu,
        "slack_caught_up_s": caught_up,
        "slack_undelivered": behind,
        "overhead_s": overhead,
        "step_overhead_s": step,
        "executor_s": executor,
        "others_cpu_share": others,
    }


async def run_bot(database_url: str, services: int, rounds: int) -> dict[str, Any]:
    """The measured runs, in this process: one service alone, then every service at once."""
    from bot.executors.command import CommandExecutor
    from bot.fakeslack import FakeSlack
    from bot.logging import configure_logging
    from bot.runtime import Runtime
    from bot.settings import load_settings

    configure_logging("WARNING", "text")
    bare = await bare_noop_s()
    commands = TimedCommands(CommandExecutor())
    phases = [Phase("1 service", 1, ALONE_ROUNDS), Phase(f"{services} at once", services, rounds)]
    results = []
    async with FakeSlack() as fake:
        settings = load_settings(
            _env_file=None,
            slack_bot_token="xoxb-bench-token",
            slack_signing_secret="bench-signing-secret",
            slack_api_base_url=fake.base_url,
            database_url=database_url,
        )
        runtime = Runtime(settings, pace_s=0.0, migrate=True, executors={"command": commands})
        await runtime.start()
        finished = Finished(runtime)
        commands.ended = finished.last_stage_ran
        watcher = asyncio.get_running_loop().create_task(finished.watch())
        try:
            await declare(runtime, services)
            await run_phase(runtime, finished, commands, Phase("warm-up", services, 1), 1)
            first = 2
            for phase in phases:
                results.append(await run_phase(runtime, finished, commands, phase, first))
                first += phase.rounds
            slack_calls = len(fake.calls)
        finally:
            watcher.cancel()
            await runtime.stop()
    return {
        "phases": results,
        "bare_noop_s": bare,
        "slack_calls": slack_calls,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


# --- the parent: one child per database, then the table ----------------------------------------------


@dataclass
class Row:
    database: str
    phase: Mapping[str, Any]
    run: Mapping[str, Any]

    def ms(self, key: str, p: float) -> float:
        values = sorted(self.run[key] if key == "bare_noop_s" else self.phase[key])
        if p == 50:
            return float(statistics.median(values)) * 1000
        return float(percentile(values, p) or 0.0) * 1000


def measure_in_child(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.pipeline", "--child", database_url]
    command += ["--services", str(args.services), "--rounds", str(args.rounds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S * 2, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the benchmark run on {database_url.split(':')[0]} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def table(rows: list[Row]) -> str:
    lines = [
        f"{'database':<11}{'load':<14}{'deploys':>7}{'stages':>7}  {'overhead/stage':>15}  {'step overhead':>15}  "
        f"{'executor run':>14}  {'/bin/true':>9}  {'deploys/s':>9}  {'bot CPU':>15}  {'Slack +s':>8}  {'peak RSS':>8}",
        f"{'':<11}{'':<14}{'':>7}{'':>7}  {'median':>7}{'p99':>8}  {'median':>7}{'p99':>8}  {'median':>6}{'p99':>8}  "
        f"{'median':>9}  {'':>9}  {'per stage':>9}{'load':>6}  {'':>8}  {'':>8}",
    ]
    for row in rows:
        f = row.phase
        behind = f" ({f['slack_undelivered']} left)" if f["slack_undelivered"] else ""
        lines.append(
            f"{row.database:<11}{f['label']:<14}{f['deployments']:>7}{f['stages']:>7}  "
            f"{row.ms('overhead_s', 50):>5.1f}ms{row.ms('overhead_s', 99):>6.1f}ms  "
            f"{row.ms('step_overhead_s', 50):>5.0f}ms{row.ms('step_overhead_s', 99):>6.0f}ms  "
            f"{row.ms('executor_s', 50):>4.1f}ms{row.ms('executor_s', 99):>6.1f}ms  "
            f"{row.ms('bare_noop_s', 50):>7.1f}ms  "
            f"{f['deployments'] / f['elapsed_s']:>9.1f}  {f['cpu_s'] / f['stages'] * 1000:>7.1f}ms"
            f"{f['cpu_s'] / f['elapsed_s']:>6.0%}  {f['slack_caught_up_s']:>8.1f}  "
            f"{row.run['peak_rss_kb'] / 1024:>6.0f}MB{behind}"
        )
    return "\n".join(lines)


def verdict(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        median = row.ms("overhead_s", 50)
        met = "met" if median < TARGET_MS else "MISSED"
        others = row.phase.get("others_cpu_share")
        server = ", the PostgreSQL server among them," if row.database == "PostgreSQL" else ""
        busy = (
            f" (other processes{server} used {others:.0%} of the CPU)" if others is not None and others > 0.05 else ""
        )
        lines.append(
            f"{row.database}, {row.phase['label']}: median overhead {median:.1f} ms per stage, target under "
            f"{TARGET_MS:.0f} ms: {met}{busy}"
        )
    return lines


async def main_async(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    loop = asyncio.get_running_loop()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="releasebot-bench-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            print(f"SQLite {sqlite3.sqlite_version}: running...", file=sys.stderr, flush=True)
            run = await loop.run_in_executor(None, measure_in_child, url, args)
            rows.extend(Row("SQLite", phase, run) for phase in run["phases"])
    if args.database_url:
        async with fresh_postgres(args.database_url) as (url, shown):
            print(f"{shown}: running...", file=sys.stderr, flush=True)
            run = await loop.run_in_executor(None, measure_in_child, url, args)
            rows.extend(Row("PostgreSQL", phase, run) for phase in run["phases"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=50, help="services deploying at once")
    parser.add_argument("--rounds", type=int, default=4, help="measured deployments per service")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres: the bench "
        "creates a fresh database there, runs on it after SQLite, and drops it",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="run on PostgreSQL only")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    parser.add_argument("--child", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.services <= 200 or not 1 <= args.rounds <= 100:
        parser.error("--services 1-200 and --rounds 1-100")
    if args.child:
        print(json.dumps(asyncio.run(run_bot(args.child, args.services, args.rounds))))
        return 0
    print(
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; deployments of "
        f"{len(STAGES)} `{NOOP}` stages: 1 service x {ALONE_ROUNDS}, then {args.services} services x {args.rounds} "
        "at once (after a warm-up round)"
    )
    rows = asyncio.run(main_async(args))
    print(table(rows))
    for line in verdict(rows):
        print(line)
    if args.json:
        print(json.dumps([{"database": row.database, **row.phase} for row in rows]))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

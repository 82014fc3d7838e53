"""Slash-command ack latency of the real app beside a bare Bolt app, at fixed offered rates.

    python -m bench.ack [--rates 50,100,200,300] [--seconds 10] [--database-url URL] [--one-process] [--json]

Each server runs in its own subprocess (``bench.ack_servers``) on 127.0.0.1 with an ephemeral port, and
the fake Slack Web API in another, as Slack is remote. The real app runs as ``releasebot serve`` does:
the front acknowledges, its command worker process runs the commands (``--one-process``: the front does
everything). This process is the load generator: open loop,
request ``i`` of a rate is scheduled at ``t0 + i / rate`` whatever the earlier responses did, and
its latency runs from that scheduled time to the end of the response body, so queueing shows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.ack_servers import SECRET, percentile

DEVELOPER = "U0BOB00002"
TARGET_RATE = 200
TARGET_RATIO = 1.3
TARGET_CEILING_MS = 300.0
CLIENT_TIMEOUT_S = 5.0
START_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
BUSY_SHARE = 0.05  # CPU share of other processes during the run above which the figures are called noisy
ROOT = Path(__file__).resolve().parent.parent

# --- the load generator --------------------------------------------------------------------------


@dataclass
class RateResult:
    offered: int
    sent: int
    ok: int
    timeouts: int
    errors: int
    achieved: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    lag_p99_ms: float | None  # how late the generator sent, against the schedule
    drain_s: float
    server: dict[str, int] = field(default_factory=dict)  # background replies, work left after the drain
    loop: dict[str, float | None] = field(default_factory=dict)  # the server's loop lag and GC pauses


@dataclass
class Target:
    name: str
    url: str
    response_url_base: str
    pid: int
    counts_url: str  # the fake Slack's count of the answers the bot posted


class Requests:
    """Slash command bodies: ``create payments-api v<unique>`` alternating with ``status``, as bob."""

    def __init__(self, response_url_base: str) -> None:
        self.response_url_base = response_url_base
        self.run = uuid.uuid4().hex[:8]
        self.n = 0

    def next(self) -> tuple[bytes, dict[str, str]]:
        self.n += 1
        text = f"create payments-api v{self.n}-{self.run}" if self.n % 2 else "status"
        fields = {
            "token": "LEGACYverificationTOKEN0001",
            "team_id": "T0RELTEAM1",
            "team_domain": "acme-eng",
            "channel_id": "C0PAYMENTS1",
            "channel_name": "payments-releases",
            "user_id": DEVELOPER,
            "user_name": "bob",
            "command": "/release",
            "text": text,
            "api_app_id": "A0RELBOT01",
            "is_enterprise_install": "false",
            "response_url": f"{self.response_url_base}bench-{self.run}-{self.n}",
            "trigger_id": f"{self.n}.{time.time_ns()}.{uuid.uuid4().hex}",
        }
        body = urlencode(fields).encode("ascii")
        stamp = str(int(time.time()))
        digest = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={digest}",
        }
        return body, headers


async def _one(session: aiohttp.ClientSession, url: str, requests: Requests, due: float) -> tuple[str, float, float]:
    """(outcome, lag, latency) for one request scheduled at loop time ``due``."""
    loop = asyncio.get_running_loop()
    body, headers = requests.next()
    lag = loop.time() - due
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            outcome = "ok" if response.status == 200 else "error"
    except TimeoutError:
        outcome = "timeout"
    except (aiohttp.ClientError, OSError):
        outcome = "error"
    return outcome, lag, loop.time() - due


async def _offer(
    session: aiohttp.ClientSession, url: str, requests: Requests, rate: int, seconds: float
) -> tuple[list[tuple[str, float, float]], float]:
    """Send ``rate * seconds`` requests on schedule; the samples and the time until the last answer (at least
    ``seconds``)."""
    loop = asyncio.get_running_loop()
    count = int(rate * seconds)
    t0 = loop.time() + 0.01
    tasks = []
    for i in range(count):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(_one(session, url, requests, due)))
    samples = await asyncio.wait_for(asyncio.gather(*tasks), CLIENT_TIMEOUT_S + 10)
    if not samples:
        return samples, seconds
    last_answer = max(i / rate + sample[2] for i, sample in enumerate(samples))
    return samples, max(seconds, last_answer)


async def run_rate(target: Target, rate: int, seconds: float, warmup: float) -> RateResult:
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=max(32, rate), limit_per_host=0)
    requests = Requests(target.response_url_base)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        before = await _server_state(session, target)
        if warmup > 0:
            await _offer(session, target.url, requests, rate, warmup)
        await _watch(session, target, "POST")
        samples, elapsed = await _offer(session, target.url, requests, rate, seconds)
        watched = await _watch(session, target, "GET")
        drain_s, after = await _drain(session, target)
    latencies = sorted(s[2] * 1000 for s in samples if s[0] == "ok")
    lags = sorted(s[1] * 1000 for s in samples)
    outcomes = Counter(s[0] for s in samples)
    ms = {p: percentile(latencies, p) for p in (50, 95, 99, 100)}
    server = {k: after[k] - before.get(k, 0) for k in ("replies", "created", "unexpected") if k in after}
    server |= {"tasks_left": after.get("tasks", -1), "outbox_left": after.get("outbox", -1)}
    return RateResult(
        offered=rate,
        sent=len(samples),
        ok=outcomes["ok"],
        timeouts=outcomes["timeout"],
        errors=outcomes["error"],
        achieved=outcomes["ok"] / elapsed if elapsed > 0 else 0.0,
        p50_ms=ms[50],
        p95_ms=ms[95],
        p99_ms=ms[99],
        max_ms=ms[100],
        lag_p99_ms=percentile(lags, 99),
        drain_s=drain_s,
        server=server,
        loop=watched,
    )


async def _server_state(session: aiohttp.ClientSession, target: Target) -> dict[str, int]:
    """Background tasks and outbox messages pending, replies posted so far; {} if it does not answer.

    Commands handed to the command worker are pending until the fake Slack has received their answer."""
    try:
        async with session.get(target.url.replace("/slack/events", "/bench/idle")) as response:
            state: dict[str, int] = await response.json()
        async with session.get(target.counts_url) as response:
            counts: dict[str, int] = await response.json()
    except (TimeoutError, aiohttp.ClientError):
        return {}
    if state.get("forwarded"):
        state["tasks"] += max(0, state["forwarded"] - counts["replies"])
    return {**state, **{key: counts[key] for key in ("replies", "created", "unexpected")}}


async def _watch(session: aiohttp.ClientSession, target: Target, method: str) -> dict[str, float | None]:
    try:
        url = target.url.replace("/slack/events", "/bench/watch")
        async with session.request(method, url) as response:
            watched: dict[str, float | None] = await response.json()
            return watched
    except (TimeoutError, aiohttp.ClientError):
        return {}


async def _drain(session: aiohttp.ClientSession, target: Target) -> tuple[float, dict[str, int]]:
    """Wait (bounded) until the server has no background task and no pending outbox message."""
    started = time.monotonic()
    state: dict[str, int] = {}
    for _ in range(int(DRAIN_TIMEOUT_S / 0.25)):
        state = await _server_state(session, target)
        if state.get("tasks") == 0 and state.get("outbox") == 0:
            break
        if time.monotonic() - started > DRAIN_TIMEOUT_S:
            break
        await asyncio.sleep(0.25)
    drained = time.monotonic() - started
    await asyncio.sleep(0.5)  # let the loop settle (delivery poll, garbage) before the next rate
    return drained, state


# --- servers' lifecycle and the fresh PostgreSQL database ------------------------------------------


@contextlib.asynccontextmanager
async def process(kind: str, workdir: Path, logs: dict[str, Any], *options: str) -> Any:
    """``python -m bench.ack_servers KIND``: yields what it published in its port file; its log goes to a file,
    summarised into ``logs[kind]`` at the end."""
    port_file, log_file = workdir / f"{kind}.port", workdir / f"{kind}.log"
    command = [sys.executable, "-m", "bench.ack_servers", kind, "--port-file", str(port_file), *options]
    env = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    with log_file.open("wb") as log:
        child = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_file.exists():
            if child.returncode is not None or time.monotonic() > deadline:
                tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
                raise RuntimeError(f"the {kind} server did not start (status {child.returncode}):\n{tail}")
            await asyncio.sleep(0.1)
        yield json.loads(port_file.read_text())
    finally:
        await _terminate(child)
        logs[kind] = _log_summary(log_file.read_text(errors="replace"))


@contextlib.asynccontextmanager
async def server(
    kind: str, workdir: Path, database_url: str | None, logs: dict[str, Any], slack: dict[str, Any], one_process: bool
) -> Any:
    options = ["--slack-url", slack["base_url"]]
    if database_url:
        options += ["--database-url", database_url]
    if one_process:
        options.append("--one-process")
    async with process(kind, workdir, logs, *options) as info:
        url = f"http://127.0.0.1:{info['port']}/slack/events"
        yield Target(kind, url, slack["response_url_base"], info["pid"], slack["counts_url"])


def _log_summary(text: str) -> dict[str, Any]:
    """How many errors and warnings the server logged, with the first error and the last exception line."""
    lines = text.splitlines()
    errors = [line for line in lines if "[error" in line]
    exceptions = [line for line in lines if line and not line[0].isspace() and "Error: " in line]
    return {
        "errors": len(errors),
        "warnings": sum("[warning" in line for line in lines),
        "first_error": errors[0].strip() if errors else None,
        "last_exception": exceptions[-1].strip() if exceptions else None,
    }


async def _terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), 5)


@contextlib.asynccontextmanager
async def fresh_postgres(server_url: str) -> Any:
    """A new database on the server of ``server_url`` (used only to connect), dropped afterwards."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from storage.engine import normalise_url

    url = make_url(normalise_url(server_url))
    name = f"releasebot_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5})
    try:
        async with admin.connect() as connection:
            version = (await connection.execute(text("SHOW server_version"))).scalar_one()
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            fresh = url.set(database=name)
            shown = fresh.render_as_string(hide_password=True)
            yield fresh.render_as_string(hide_password=False), f"PostgreSQL {version}, fresh database {shown}"
        finally:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


# --- the run and the report ----------------------------------------------------------------------


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, list[RateResult]] = {}
    logs: dict[str, Any] = {}
    cpu_before = _cpu_seconds()
    async with contextlib.AsyncExitStack() as stack:
        database_url, database = None, f"SQLite {sqlite3.sqlite_version} (fresh file in a temporary directory)"
        if args.database_url:
            database_url, database = await stack.enter_async_context(fresh_postgres(args.database_url))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="releasebot-bench-")))
        slack = await stack.enter_async_context(process("fake", workdir, logs))
        for kind in ("bare", "real"):
            database = database_url if kind == "real" else None
            async with server(kind, workdir, database, logs, slack, args.one_process) as target:
                results[kind] = []
                for rate in args.rates:
                    result = await run_rate(target, rate, args.seconds, args.warmup)
                    results[kind].append(result)
                    print(f"  {kind:4} {rate:>4}/s done: p99 {_ms(result.p99_ms)} ms", file=sys.stderr, flush=True)
    return {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "others_cpu_share": _others_share(cpu_before, _cpu_seconds()),
        },
        "database": database,
        "one_process": args.one_process,
        "seconds_per_rate": args.seconds,
        "warmup_s": args.warmup,
        "results": {kind: [asdict(r) for r in rows] for kind, rows in results.items()},
        "server_logs": logs,
    }


def _cpu_seconds() -> tuple[float, float, float] | None:
    """(now, busy CPU-seconds of the whole machine, of this process and its waited-for children), Linux only."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    ours = sum(os.times()[:4])
    return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), ours


def _others_share(before: tuple[float, float, float] | None, after: tuple[float, float, float] | None) -> float | None:
    """The share of the machine's CPU that processes other than the bench's used between two readings."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    others = (after[1] - before[1]) - (after[2] - before[2])
    return max(0.0, others) / ((after[0] - before[0]) * (os.cpu_count() or 1))


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(data: dict[str, Any]) -> str:
    machine = data["machine"]
    lines = [
        f"machine: {machine['nproc']} cores, Python {machine['python']}, {machine['platform']}",
        f"CPU used by other processes during the run: {_share(machine['others_cpu_share'])} of the machine",
        f"database (real app): {data['database']}",
        f"{data['seconds_per_rate']:g} s per rate after {data['warmup_s']:g} s warm-up; open loop, latency from "
        "the scheduled send time; commands alternate `create payments-api v<n>` and `status` as U0BOB00002",
    ]
    lines += [
        "columns: gen lag = the generator's own lateness (p99 ms); loop p99/max = lateness of a 5 ms timer in the "
        "server (its event-loop stalls); gc max = longest garbage-collection pause in the server (ms); drain s = "
        "time after the last response until the server had no background task or outbox message left",
    ]
    header = (
        f"{'offered/s':>9} {'achieved/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'timeouts':>8} {'errors':>6} {'gen lag':>7} {'loop p99':>8} {'loop max':>8} {'gc max':>6} "
        f"{'drain s':>7}  background"
    )
    for kind, rows in data["results"].items():
        title = (
            "bare Bolt app (ack only)"
            if kind == "bare"
            else f"real app (bot.web + Runtime, {'one process' if data['one_process'] else 'with its command worker'})"
        )
        lines += ["", f"{kind}: {title}", header]
        for r in rows:
            s, loop = r["server"], r["loop"]
            background = (
                f"{s['replies']} replies (warm-up included; {s['created']} releases created), "
                f"{s['unexpected']} unexpected errors, left "
                f"{s['tasks_left']} tasks {s['outbox_left']} outbox"
                if "replies" in s
                else "-"
            )
            lines.append(
                f"{r['offered']:>9} {r['achieved']:>10.1f} {_ms(r['p50_ms']):>7} {_ms(r['p95_ms']):>7} "
                f"{_ms(r['p99_ms']):>7} {_ms(r['max_ms']):>7} {r['timeouts']:>8} {r['errors']:>6} "
                f"{_ms(r['lag_p99_ms']):>7} {_ms(loop.get('loop_lag_p99_ms')):>8} "
                f"{_ms(loop.get('loop_lag_max_ms')):>8} {_ms(loop.get('gc_pause_max_ms')):>6} "
                f"{r['drain_s']:>7.1f}  {background}"
            )
    for kind, log in data["server_logs"].items():
        if log["errors"] or log["warnings"]:
            lines.append(f"{kind} server logged {log['errors']} errors and {log['warnings']} warnings")
            lines += [f"  {key}: {log[key]}" for key in ("first_error", "last_exception") if log[key]]
    lines += ["", *verdict(data["results"])]
    share = machine["others_cpu_share"]
    if share is not None and share > BUSY_SHARE:
        lines.append(
            f"warning: other processes used {_share(share)} of the CPU during the run: these figures are noisy; "
            "run again on a quiet machine"
        )
    return "\n".join(lines)


def verdict(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    bare = {r["offered"]: r for r in results["bare"]}
    real = {r["offered"]: r for r in results["real"]}
    lines = ["p99 real/bare:"]
    for rate, r in real.items():
        b = bare.get(rate)
        if b and r["p99_ms"] is not None and b["p99_ms"]:
            lines.append(f"  {rate:>4}/s: {r['p99_ms']:.1f} / {b['p99_ms']:.1f} ms = {r['p99_ms'] / b['p99_ms']:.2f}x")
    target = (
        f"target: p99 at {TARGET_RATE} requests/s within {TARGET_RATIO} times the bare app's, "
        f"and never above {TARGET_CEILING_MS:.0f} ms"
    )
    at = real.get(TARGET_RATE)
    if at is None or bare.get(TARGET_RATE) is None or at["p99_ms"] is None:
        return [*lines, f"verdict: NOT MEASURED ({TARGET_RATE}/s not in --rates) - {target}"]
    ratio = at["p99_ms"] / bare[TARGET_RATE]["p99_ms"]
    worst = max(real.values(), key=lambda r: r["p99_ms"] if r["p99_ms"] is not None else float("inf"))
    worst_ms = worst["p99_ms"] if worst["p99_ms"] is not None else float("inf")
    failed = at["timeouts"] + at["errors"]
    ok = ratio <= TARGET_RATIO and worst_ms <= TARGET_CEILING_MS and not failed
    lines.append(
        f"verdict: {'PASS' if ok else 'FAIL'} - {target}: ratio at {TARGET_RATE}/s {ratio:.2f}x "
        f"({'within' if ratio <= TARGET_RATIO else 'over'} {TARGET_RATIO}x), highest real p99 {worst_ms:.1f} ms "
        f"at {worst['offered']}/s ({'within' if worst_ms <= TARGET_CEILING_MS else 'over'} "
        f"{TARGET_CEILING_MS:.0f} ms), {failed} timeouts/errors at {TARGET_RATE}/s"
    )
    return lines


def _rates(value: str) -> list[int]:
    rates = [int(part) for part in value.split(",") if part.strip()]
    if not rates or any(rate < 1 or rate > 5000 for rate in rates):
        raise argparse.ArgumentTypeError("rates are whole numbers from 1 to 5000, separated by commas")
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ack", description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=_rates, default=[50, 100, 200, 300], help="offered requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each rate")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to use, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres: the "
        "bench creates a fresh database there and drops it afterwards (default: SQLite in a temp dir)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="run the real app without its command worker process (RELEASEBOT_COMMAND_WORKER=false)",
    )
    args = parser.parse_args(argv)
    if args.seconds * max(args.rates) > 100_000:
        parser.error("at most 100000 requests per rate")
    data = asyncio.run(measure(args))
    print(report(data))
    if args.json:
        print(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

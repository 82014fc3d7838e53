"""The processes ``bench.ack`` measures, each started as ``python -m bench.ack_servers KIND --port-file F``:

* ``fake``: the fake Slack Web API (and the ``response_url`` endpoint), in a process of its own as Slack is
  remote; it counts the answers the bot posts (``GET /bench/counts`` on its own port);
* ``bare``: Bolt with an ack-only listener behind the same aiohttp adapter code path;
* ``real``: the bot as ``releasebot serve`` runs it: the front (``bot.web`` on a ``Runtime``) acknowledges
  and hands each command to a command worker process (``worker``, started by the front), which runs the
  commands and delivers the Slack messages; with ``--one-process`` the front does everything itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

SECRET = "bench-signing-secret-not-for-production"
ADMIN = "U0ALICE001"


def _settings(slack_url: str, database_url: str) -> Any:
    from bot.settings import load_settings

    return load_settings(
        _env_file=None,
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SECRET,
        slack_api_base_url=slack_url,
        database_url=database_url,
        admins=ADMIN,
        log_level="WARNING",
    )


async def _publish(port_file: Path, info: dict[str, Any]) -> None:
    partial = port_file.with_suffix(".partial")
    partial.write_text(json.dumps(info))
    partial.replace(port_file)


async def _listen(app: web.Application, stack: contextlib.AsyncExitStack) -> int:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port: int = runner.addresses[0][1]
    return port


async def serve_fake(port_file: Path) -> None:
    from bot.fakeslack import Call, FakeSlack

    counts: Counter[str] = Counter(replies=0, created=0, unexpected=0, calls=0)

    def count(call: Call) -> None:
        if call.method == "response_url":
            text = str(call.args.get("text", ""))
            counts["replies"] += 1
            counts["unexpected"] += text.startswith(":warning:")
            counts["created"] += text.startswith("Created ")
        counts["calls"] += 1
        if counts["calls"] % 100 == 0:
            fake.clear()  # the fake records every call: keep that from growing its heap

    # Slack runs on other machines: here it must not take the CPU from the processes under test.
    with contextlib.suppress(OSError):
        os.nice(10)

    async def counted(_: web.Request) -> web.Response:
        return web.json_response(dict(counts))

    async with FakeSlack(on_call=count) as fake, contextlib.AsyncExitStack() as stack:
        app = web.Application()
        app.router.add_get("/bench/counts", counted)
        port = await _listen(app, stack)
        await _publish(
            port_file,
            {
                "counts_url": f"http://127.0.0.1:{port}/bench/counts",
                "base_url": fake.base_url,
                "response_url_base": fake.response_url_base,
                "pid": os.getpid(),
            },
        )
        await _until_told_to_stop()


async def serve_worker(slack_url: str, database_url: str) -> int:
    from bot.command_worker import serve_worker as run
    from bot.logging import configure_logging
    from bot.runtime import Runtime

    configure_logging("WARNING", "text")
    return await run(Runtime(_settings(slack_url, database_url), pace_s=0.0, migrate=False))


async def serve_bot(kind: str, port_file: Path, slack_url: str, database_url: str | None, one_process: bool) -> None:
    from bot.logging import configure_logging

    configure_logging("WARNING", "text")
    async with contextlib.AsyncExitStack() as stack:
        if kind == "real":
            app, state = await _real_app(slack_url, database_url, one_process, stack)
        else:
            app, state = _bare_app(slack_url)
        watch = LoopWatch()
        stack.callback(watch.close)

        async def idle(_: web.Request) -> web.Response:
            return web.json_response(await state())

        async def watched(request: web.Request) -> web.Response:
            return web.json_response(watch.take() if request.method == "GET" else watch.reset())

        app.router.add_get("/bench/idle", idle)
        app.router.add_route("*", "/bench/watch", watched)
        port = await _listen(app, stack)
        await _publish(port_file, {"port": port, "pid": os.getpid()})
        await _until_told_to_stop()


async def _real_app(
    slack_url: str, database_url: str | None, one_process: bool, stack: contextlib.AsyncExitStack
) -> tuple[web.Application, Callable[[], Awaitable[dict[str, int]]]]:
    from bot.command_worker import WorkerLink
    from bot.console_demo import create_demo_workspace
    from bot.runtime import Runtime
    from bot.web import build_web_app

    if database_url is None:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="releasebot-bench-"))
        database_url = f"sqlite+aiosqlite:///{data_dir}/releasebot.db"
    runtime = Runtime(_settings(slack_url, database_url), pace_s=0.0, migrate=True)
    await runtime.start(deliver=one_process, run_pipeline=one_process)
    stack.push_async_callback(runtime.stop)
    await create_demo_workspace(runtime.uow, runtime.clock)
    forwarded = Counter(commands=0)
    if not one_process:
        command = [sys.executable, "-m", "bench.ack_servers", "worker", "--slack-url", slack_url]
        worker = WorkerLink(command=[*command, "--database-url", database_url])
        await worker.start()
        stack.push_async_callback(worker.stop)

        def forward(body: dict[str, Any]) -> bool:
            taken = worker.forward_command(body)
            forwarded["commands"] += taken
            return taken

        runtime.deps.forward_command = forward
        runtime.deps.wake_delivery = worker.wake
        runtime.deps.wake_pipeline = worker.wake

    async def state() -> dict[str, int]:
        tasks, outbox = runtime.deps.tasks.pending, -1
        if not tasks:  # the outbox query would queue behind the tasks for the database connection
            async with runtime.uow() as uow:
                outbox = await uow.outbox.pending_count()  # type: ignore[attr-defined]
        return {"tasks": tasks, "outbox": outbox, "forwarded": forwarded["commands"]}

    gc.collect()
    gc.freeze()
    return build_web_app(runtime), state


def _bare_app(slack_url: str) -> tuple[web.Application, Callable[[], Awaitable[dict[str, int]]]]:
    """Bolt with nothing of ours: an ack-only listener behind the same aiohttp adapter code path."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    bolt = AsyncApp(
        client=AsyncWebClient(token="xoxb-bench", base_url=slack_url),
        signing_secret=SECRET,
        process_before_response=True,
    )

    @bolt.command("/release")
    async def release(ack: Any) -> None:
        await ack()

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def state() -> dict[str, int]:
        return {"tasks": 0, "outbox": 0, "forwarded": 0}

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    return app, state


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return None
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


class LoopWatch:
    """In the server: how late a 5 ms timer fires (event-loop stalls) and how long garbage collection pauses."""

    PERIOD_S = 0.005

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.gc_pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.PERIOD_S
            await asyncio.sleep(self.PERIOD_S)
            self.lags.append(loop.time() - due)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses.append((info["generation"], time.perf_counter() - self._gc_started))

    def reset(self) -> dict[str, float | None]:
        self.lags.clear()
        self.gc_pauses.clear()
        return {}

    def take(self) -> dict[str, float | None]:
        lags = sorted(lag * 1000 for lag in self.lags)
        pauses = [pause * 1000 for _, pause in self.gc_pauses]
        full = [pause * 1000 for generation, pause in self.gc_pauses if generation == 2]
        return {
            "loop_lag_p99_ms": percentile(lags, 99),
            "loop_lag_max_ms": lags[-1] if lags else None,
            "gc_pause_max_ms": max(pauses, default=0.0),
            "gc_full_collections": len(full),
            "gc_full_max_ms": max(full, default=0.0),
            "gc_ms_total": sum(pauses),
            "gc_tracked_objects": len(gc.get_objects()),
        }

    def close(self) -> None:
        self._task.cancel()
        gc.callbacks.remove(self._on_gc)


async def _until_told_to_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:  # also stop if the load generator died
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_servers")
    parser.add_argument("kind", choices=["fake", "bare", "real", "worker"])
    parser.add_argument("--port-file", type=Path)
    parser.add_argument("--slack-url")
    parser.add_argument("--database-url")
    parser.add_argument("--one-process", action="store_true")
    args = parser.parse_args(argv)
    if args.kind == "fake":
        asyncio.run(serve_fake(args.port_file))
    elif args.kind == "worker":
        return asyncio.run(serve_worker(args.slack_url, args.database_url))
    else:
        asyncio.run(serve_bot(args.kind, args.port_file, args.slack_url, args.database_url, args.one_process))
    return 0


if __name__ == "__main__":
    sys.exit(main())

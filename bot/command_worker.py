"""Slash-command work in a companion process, so that acks never wait behind it.

Slack gives an app 3 seconds to acknowledge a slash command, and a person notices far less. In one
process, the acknowledgement of a new command waits on the event loop behind the database work and
rendering of earlier commands (and, Python being what it is, a second thread would still share the
interpreter lock). ``releasebot serve`` therefore runs two processes per replica:

* the front (this module's ``WorkerLink``) verifies and acknowledges every Slack request, answers
  buttons, modals and health checks, and hands each acknowledged ``/release`` command to
* the worker (``python -m bot.command_worker``), a full runtime without a web server: it runs the
  commands, the delivery of Slack messages, the pipeline and the scheduled jobs.

They talk over the worker's standard input, one JSON object per line. When the worker is not running
(it is restarted if it dies), the front runs the command itself: a command is never dropped. The
worker reads the same settings (environment and ``.env``) as the front.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger(__name__)

RESTART_DELAY_S = 1.0
STOP_TIMEOUT_S = 20.0
WORKER_NICENESS = 10  # the front's acknowledgements come first when both want the CPU


class WorkerLink:
    """The front's end: starts the worker, writes commands and wake-ups to it, restarts it if it dies."""

    def __init__(self, command: list[str] | None = None, env: Mapping[str, str | None] | None = None) -> None:
        """``env`` adds to (or, with None, removes from) this process's environment for the worker."""
        self._command = command or [sys.executable, "-m", "bot.command_worker"]
        self._env = {**os.environ, **{k: v for k, v in (env or {}).items() if v is not None}}
        for key in [k for k, v in (env or {}).items() if v is None]:
            self._env.pop(key, None)
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready = asyncio.Event()
        self.started = 0  # how many times the worker was started (restarts show here)

    @property
    def alive(self) -> bool:
        process = self._process
        return self._ready.is_set() and process is not None and process.returncode is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self) -> None:
        await self._spawn()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def _spawn(self) -> None:
        self._ready.clear()
        self._process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self._env,
        )
        self.started += 1
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()  # the worker says "ready" once its runtime has started
        if line.strip() != b"ready":
            code = await self._process.wait()
            raise RuntimeError(f"the command worker did not start (exit status {code})")
        self._ready.set()
        log.info("command worker started", pid=self._process.pid)

    async def _supervise(self) -> None:
        while not self._stopping:
            process = self._process
            assert process is not None
            code = await process.wait()
            if self._stopping:
                return
            self._ready.clear()
            log.error("command worker exited; restarting it", exit_status=code)
            await asyncio.sleep(RESTART_DELAY_S)
            try:
                await self._spawn()
            except (OSError, RuntimeError) as error:
                log.error("command worker did not restart", error=str(error))

    def _write(self, message: dict[str, Any]) -> bool:
        process = self._process
        if not self._ready.is_set() or process is None or process.returncode is not None or process.stdin is None:
            return False
        if process.stdin.is_closing():
            return False
        try:
            process.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            return False
        return True

    def forward_command(self, body: dict[str, Any]) -> bool:
        """True when the worker took the command; False means the caller must run it itself."""
        return self._write({"type": "command", "body": body})

    def wake(self) -> None:
        """Work was committed here (a click, a modal) for the worker's delivery and pipeline loops."""
        self._write({"type": "wake"})

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()  # end of input: the worker finishes what it has and stops
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _no_fallback_reply(**_: Any) -> None:
    log.warning("a command arrived without a response_url; its answer was not delivered")


async def run_worker(runtime: Runtime, read_line: Callable[[], Awaitable[bytes]], ready: Callable[[], None]) -> int:
    """Start ``runtime``, say ready, run what the front sends until its end of input, then stop."""
    from handlers.commands import answer

    await runtime.start(schedule=True)
    deps = runtime.deps
    ready()
    try:
        while line := await read_line():
            try:
                message = json.loads(line)
            except ValueError:
                log.error("unreadable message from the front", length=len(line))
                continue
            if message.get("type") == "command" and isinstance(message.get("body"), dict):
                body = message["body"]
                deps.tasks.spawn(answer(deps, body, deps.replies.responder(body, _no_fallback_reply)))
            elif message.get("type") == "wake":
                deps.wake_delivery()
                deps.wake_pipeline()
    finally:
        await runtime.stop()
    return 0


async def serve_worker(runtime: Runtime) -> int:
    """The worker process's main: commands on standard input, "ready" on standard output, logs on stderr."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**22)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    for sig in (signal.SIGINT, signal.SIGTERM):  # the front stops us by closing our input
        loop.add_signal_handler(sig, lambda: None)

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    return await run_worker(runtime, reader.readline, ready)


async def _main() -> int:
    from bot.logging import configure_logging
    from bot.runtime import Runtime
    from bot.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return await serve_worker(Runtime(settings))


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))

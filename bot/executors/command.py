"""Runs a stage's configured command as a local process.

The argv comes only from configuration and runs without a shell, so nothing anyone types reaches it. The
process gets a minimal environment (PATH, HOME, LANG) plus the deployment's RELEASEBOT_* variables, no stdin,
and its own session: on timeout or cancellation the whole process group is stopped, politely first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping

import structlog

from bot.executors.output import OutputCapture
from core.durations import format_duration
from core.execution import StageResult, StageRun
from core.model import StageStatus

log = structlog.get_logger(__name__)

SAFE_ENVIRONMENT = ("PATH", "HOME", "LANG")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
READ_CHUNK = 64 * 1024
EXIT_POLL_S = 0.05  # the longest wait between two looks at the exit code
EXIT_POLL_FIRST_S = 0.002  # short commands are noticed quickly; the wait doubles up to EXIT_POLL_S


def stage_environment(run: StageRun, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH, HOME and LANG from the bot's environment, and what the stage is deploying."""
    source = os.environ if base is None else base
    env = {name: source[name] for name in SAFE_ENVIRONMENT if name in source}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(
        {
            "RELEASEBOT_SERVICE": run.service,
            "RELEASEBOT_VERSION": run.version,
            "RELEASEBOT_COMMIT": run.commit or "",
            "RELEASEBOT_ENVIRONMENT": run.environment,
            "RELEASEBOT_DEPLOYMENT": run.reference,
            "RELEASEBOT_STAGE": run.spec.name,
        }
    )
    return env


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class CommandExecutor:
    """``run`` starts the process and waits for it to exit, time out, or be cancelled through the event."""

    def __init__(self, *, grace_s: float = 5.0, drain_s: float = 2.0, limit: int | None = None) -> None:
        self.grace_s = grace_s  # between SIGTERM and SIGKILL
        self.drain_s = drain_s  # for output still held open by leftover children once the command exited
        self.limit = limit

    async def run(self, run: StageRun, cancelled: asyncio.Event) -> StageResult:
        argv = list(run.spec.command)
        if not argv:
            return StageResult(StageStatus.FAILED, reason=f"stage {run.spec.name} has no command configured")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=stage_environment(run),
                start_new_session=True,
            )
        except FileNotFoundError:
            return StageResult(StageStatus.FAILED, reason=f"command not found: {argv[0]}")
        except PermissionError:
            return StageResult(StageStatus.FAILED, reason=f"command not executable: {argv[0]}")
        except OSError as error:
            return StageResult(StageStatus.FAILED, reason=f"could not start {argv[0]}: {error.strerror or error}")
        log.info("stage command started", deployment=run.reference, stage=run.spec.name, pid=process.pid)
        try:
            return await self._supervise(run, process, cancelled)
        finally:
            if process.returncode is None:  # the runner itself was cancelled: leave nothing behind
                _signal_group(process.pid, signal.SIGKILL)

    async def cancel(self, run: StageRun) -> None:
        """Nothing runs elsewhere: the event given to ``run`` stops the local process."""

    async def _supervise(
        self, run: StageRun, process: asyncio.subprocess.Process, cancelled: asyncio.Event
    ) -> StageResult:
        capture = OutputCapture() if self.limit is None else OutputCapture(self.limit)
        loop = asyncio.get_running_loop()
        reader = loop.create_task(_read(process, capture))
        exited = loop.create_task(_exit_code(process))
        stop = loop.create_task(cancelled.wait())
        try:
            await asyncio.wait({exited, stop}, timeout=run.spec.timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if exited.done():
            await self._drain(process, reader)
            code = exited.result()
            status = StageStatus.SUCCESS if code == 0 else StageStatus.FAILED
            reason = None if code == 0 else exit_reason(code)
            return StageResult(status, exit_code=code, output=capture.text(), reason=reason)
        await self._stop(process, exited)
        await self._drain(process, reader)
        if cancelled.is_set():
            return StageResult(
                StageStatus.CANCELLED, exit_code=process.returncode, output=capture.text(), reason="cancelled"
            )
        reason = f"timed out after {format_duration(run.spec.timeout_s)}"
        return StageResult(StageStatus.FAILED, exit_code=process.returncode, output=capture.text(), reason=reason)

    async def _stop(self, process: asyncio.subprocess.Process, exited: asyncio.Task[int]) -> None:
        """SIGTERM to the whole group, then SIGKILL after the grace period."""
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(exited), self.grace_s)
        except TimeoutError:
            log.warning("stage command ignored SIGTERM, killing it", pid=process.pid)
        _signal_group(process.pid, signal.SIGKILL)
        await exited

    async def _drain(self, process: asyncio.subprocess.Process, reader: asyncio.Task[None]) -> None:
        """The command exited; children it left behind may still hold the output open: stop them."""
        done, _ = await asyncio.wait({reader}, timeout=self.drain_s)
        if done:
            return
        _signal_group(process.pid, signal.SIGKILL)
        done, _ = await asyncio.wait({reader}, timeout=self.drain_s)
        if not done:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def _exit_code(process: asyncio.subprocess.Process) -> int:
    """The exit code once the process exits. ``Process.wait`` would also wait for every holder of its output
    to close it, and a child left running in the background may hold it for hours."""
    wait = EXIT_POLL_FIRST_S
    while process.returncode is None:  # the exit is only observable this way
        await asyncio.sleep(wait)
        wait = min(wait * 2, EXIT_POLL_S)
    return process.returncode


async def _read(process: asyncio.subprocess.Process, capture: OutputCapture) -> None:
    assert process.stdout is not None
    while chunk := await process.stdout.read(READ_CHUNK):
        capture.feed(chunk)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)

"""The pipeline runner: claims runnable stages, runs them with the configured executor, reports the result.

Several runners (replicas) may run at once: a stage is started by a conditional update, so each stage runs
once. A running command stage is heart-beaten; the watchdog fails stages whose runner stopped beating
(a crash or restart) or whose timeout passed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping

import structlog

from core import cancellations, pipeline
from core.execution import StageExecutor, StageResult, StageRun
from core.model import StageStatus
from handlers.deps import Deps
from handlers.tasks import Doorbell

log = structlog.get_logger(__name__)


class PipelineRunner:
    def __init__(
        self,
        deps: Deps,
        executors: Mapping[str, StageExecutor],
        *,
        callback_base_url: str | None = None,
        poll_s: float = 1.0,
        heartbeat_s: float = 10.0,
        cancel_poll_s: float = 0.5,
        max_parallel: int = 64,
    ) -> None:
        self.deps = deps
        self.executors = executors
        self.callback_base_url = callback_base_url
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self.cancel_poll_s = cancel_poll_s
        self.runner_id = f"runner-{uuid.uuid4().hex[:12]}"
        self._slots = asyncio.Semaphore(max_parallel)
        self._wake = Doorbell()
        self._stopping = False
        self._running: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.ring()

    async def run(self) -> None:
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
        try:
            while not self._stopping:
                await self.tell_ci_cancelled()
                started = await self.start_ready()
                if started:
                    continue
                await self._wake.wait(self.poll_s)
        finally:
            heartbeat.cancel()

    async def stop(self, timeout: float = 10.0) -> None:
        """Let running stages finish for up to ``timeout``; stages still running then are abandoned in the
        store as they are, and the watchdog fails them ("interrupted by restart") once their heartbeat stops."""
        self._stopping = True
        self._wake.ring()
        if self._running:
            await asyncio.wait(self._running, timeout=timeout)
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def tell_ci_cancelled(self) -> int:
        """Webhook stages of cancelled deployments (cancelled on any replica): end each once and tell CI."""
        try:
            async with self.deps.uow() as uow:
                runs = await cancellations.claim_ci_cancellations(
                    uow, now=self.deps.clock(), callback_base_url=self.callback_base_url
                )
                await uow.commit()
        except Exception:
            log.exception("could not look for cancelled webhook stages")
            return 0
        if runs:
            self.deps.wake_delivery()
        for run in runs:
            executor = self.executors.get(run.spec.executor)
            if executor is None:
                continue
            try:
                await executor.cancel(run)
            except Exception:
                log.exception("CI was not told of the cancellation", deployment=run.reference)
        return len(runs)

    async def start_ready(self) -> int:
        """Claim every runnable stage there is a slot for and start it; returns how many started."""
        started = 0
        while not self._slots.locked():
            async with self.deps.uow() as uow:
                run = await pipeline.claim_stage(
                    uow, runner=self.runner_id, now=self.deps.clock(), callback_base_url=self.callback_base_url
                )
                await uow.commit()
            if run is None:
                break
            self.deps.wake_delivery()
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._execute(run))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            started += 1
        return started

    async def _execute(self, run: StageRun) -> None:
        cancelled = asyncio.Event()
        watcher = asyncio.get_running_loop().create_task(self._watch_cancel(run, cancelled))
        try:
            executor = self.executors.get(run.spec.executor)
            if executor is None:
                result = StageResult(StageStatus.FAILED, reason=f"no executor `{run.spec.executor}` is configured")
            else:
                result = await executor.run(run, cancelled)
            if result.status is not None:
                await self._report(run, result)
        except Exception as error:
            log.exception("stage failed unexpectedly", deployment=run.reference, stage=run.spec.name)
            await self._report(
                run, StageResult(StageStatus.FAILED, reason=f"the runner failed: {type(error).__name__}")
            )
        finally:
            watcher.cancel()
            self._slots.release()
            self._wake.ring()

    async def _report(self, run: StageRun, result: StageResult) -> None:
        async with self.deps.uow() as uow:
            await pipeline.report_stage(
                uow,
                deployment_id=run.deployment_id,
                position=run.position,
                status=result.status or StageStatus.FAILED,
                now=self.deps.clock(),
                output=result.output,
                exit_code=result.exit_code,
                reason=result.reason,
            )
            await uow.commit()
        self.deps.wake_delivery()

    async def _watch_cancel(self, run: StageRun, cancelled: asyncio.Event) -> None:
        """Cancellation may be asked on any replica: the flag lives in the store."""
        while not cancelled.is_set():
            await asyncio.sleep(self.cancel_poll_s)
            async with self.deps.uow() as uow:
                deployment = await uow.deployments.get(run.deployment_id)
            if deployment is None or deployment.cancel_requested:
                cancelled.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                async with self.deps.uow() as uow:
                    await uow.stages.heartbeat(self.runner_id, now=self.deps.clock())
                    await uow.commit()
            except Exception:
                log.exception("heartbeat failed")

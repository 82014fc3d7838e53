"""Work handed off after an ack: tracked so that shutdown and tests can wait for it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class TaskTracker:
    """At most ``limit`` pieces of work run at once; the rest wait their turn in order, so a burst of
    commands queues here instead of timing out on the database pool."""

    def __init__(self, limit: int = 32) -> None:
        self._limit = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._limited(coro))
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)
        return task

    async def _limited(self, coro: Coroutine[Any, Any, Any]) -> Any:
        async with self._limit:
            return await coro

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())
        if not self._tasks:
            self._idle.set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every tracked task has finished (or the timeout passes)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("tasks still running at drain timeout", pending=len(self._tasks))


class Doorbell:
    """Wakes a polling worker early: ``ring`` after committing work for it; ``wait`` returns on a ring or when
    the poll interval passes (other replicas' work is only seen by polling)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    async def wait(self, poll_s: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), poll_s)
        except TimeoutError:
            pass
        self._event.clear()

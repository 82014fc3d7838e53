"""Periodic job bodies. Each is safe to run on several replicas at once: every state change it makes is
conditional, so only one replica acts on a given row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.deps import Deps

JobBody = Callable[[Deps], Awaitable[int]]


@dataclass(frozen=True)
class IntervalJob:
    name: str
    seconds: float
    body: JobBody


def interval_jobs() -> list[IntervalJob]:
    """Every periodic job, registered with the scheduler by ``bot.scheduler``."""
    return []

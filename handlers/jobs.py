"""Periodic job bodies. Each is safe to run on several replicas at once: every state change it makes is
conditional, so only one replica acts on a given row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from core import approvals, locks, pipeline
from core.model import Actor, Role, Source
from handlers.deps import Deps

JobBody = Callable[[Deps], Awaitable[int]]
SYSTEM = Actor(user_id="releasebot", role=Role.ADMIN, source=Source.SYSTEM)


@dataclass(frozen=True)
class IntervalJob:
    name: str
    seconds: float
    body: JobBody


async def expire_approvals(deps: Deps) -> int:
    """Pending deployments past their approval window are expired, and their cards updated."""
    async with deps.uow() as uow:
        count = await approvals.expire_due(uow, now=deps.clock(), actor=SYSTEM)
        await uow.commit()
    return count


async def lock_upkeep(deps: Deps) -> int:
    """Expired locks are released (owners and channels told); owners are reminded 15 minutes before expiry."""
    async with deps.uow() as uow:
        count = await locks.expire_and_remind(uow, actor=SYSTEM, now=deps.clock())
        await uow.commit()
    return count


async def watchdog(deps: Deps) -> int:
    """Fail stages past their timeout or abandoned by a dead runner; see core.pipeline.reconcile."""
    async with deps.uow() as uow:
        count = await pipeline.reconcile(uow, now=deps.clock(), stale_after=timedelta(seconds=deps.stale_runner_s))
        await uow.commit()
    return count


def interval_jobs() -> list[IntervalJob]:
    """Every periodic job, registered with the scheduler by ``bot.scheduler``."""
    return [
        IntervalJob("expire-approvals", 60, expire_approvals),
        IntervalJob("watchdog", 15, watchdog),
        IntervalJob("lock-upkeep", 60, lock_upkeep),
    ]

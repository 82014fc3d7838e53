"""APScheduler wiring: interval jobs from ``handlers.jobs`` on an ``AsyncIOScheduler``."""

from __future__ import annotations

from datetime import timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.digest_schedule import DigestSchedule
from handlers.deps import Deps
from handlers.jobs import IntervalJob, interval_jobs

log = structlog.get_logger(__name__)


def _runner(job: IntervalJob, deps: Deps):  # type: ignore[no-untyped-def]
    async def run() -> None:
        try:
            changed = await job.body(deps)
        except Exception:
            log.exception("job failed", job=job.name)
            return
        if changed:
            deps.wake_delivery()
            log.info("job acted", job=job.name, changed=changed)

    return run


def build_scheduler(
    deps: Deps, jobs: list[IntervalJob] | None = None, *, digest_grace: timedelta | None = None
) -> AsyncIOScheduler:
    """Jobs never overlap themselves (max_instances=1) and a late run is merged into one (coalesce).
    With ``digest_grace``, the weekly DORA digest too (``bot.digest_schedule``)."""
    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    for job in interval_jobs() if jobs is None else jobs:
        scheduler.add_job(_runner(job, deps), IntervalTrigger(seconds=job.seconds), id=job.name, name=job.name)
    if digest_grace is not None:
        DigestSchedule(scheduler, deps, digest_grace).install()
    return scheduler

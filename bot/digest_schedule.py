"""The weekly DORA digest on APScheduler: one ``CronTrigger`` job per team (its digest day and time, in its
time zone), kept in step with the teams by a periodic resync, which also catches up a digest missed while
the bot was down (within the grace period). Sending is exactly once whoever runs it (``digest_runs``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.dora import parse_zone
from handlers.deps import Deps
from handlers.digest import TeamSchedule, send_due_digests, team_schedules

log = structlog.get_logger(__name__)

RESYNC_JOB = "digest-resync"
JOB_PREFIX = "digest:"
RESYNC_S = 300


def cron_trigger(schedule: TeamSchedule) -> CronTrigger:
    hour, minute = (int(part) for part in schedule.time.split(":"))
    return CronTrigger(day_of_week=schedule.day, hour=hour, minute=minute, timezone=parse_zone(schedule.timezone))


class DigestSchedule:
    def __init__(self, scheduler: AsyncIOScheduler, deps: Deps, grace: timedelta) -> None:
        self.scheduler = scheduler
        self.deps = deps
        self.grace = grace
        self.scheduled: dict[str, TeamSchedule] = {}

    def install(self) -> None:
        """The resync job, first run as soon as the scheduler starts (the catch-up at start-up)."""
        self.scheduler.add_job(
            self.resync,
            IntervalTrigger(seconds=RESYNC_S),
            id=RESYNC_JOB,
            name=RESYNC_JOB,
            next_run_time=datetime.now(UTC),
            misfire_grace_time=None,
        )

    async def resync(self) -> None:
        try:
            self.sync(await team_schedules(self.deps))
            await send_due_digests(self.deps, grace=self.grace)
        except Exception:
            log.exception("digest resync failed")

    def sync(self, schedules: list[TeamSchedule]) -> None:
        """One job per team, replaced when its day, time or zone changes, removed with the team."""
        wanted = {f"{JOB_PREFIX}{schedule.team}": schedule for schedule in schedules}
        for job_id in [job_id for job_id in self.scheduled if job_id not in wanted]:
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)
            del self.scheduled[job_id]
        for job_id, schedule in wanted.items():
            if self.scheduled.get(job_id) == schedule:
                continue
            try:
                trigger = cron_trigger(schedule)
            except Exception:
                log.exception("digest not scheduled", team=schedule.team)
                continue
            self.scheduler.add_job(
                self._runner(schedule.team),
                trigger,
                id=job_id,
                name=f"weekly digest of {schedule.team}",
                replace_existing=True,
                misfire_grace_time=int(self.grace.total_seconds()),
            )
            self.scheduled[job_id] = schedule

    def _runner(self, team: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            try:
                await send_due_digests(self.deps, grace=self.grace, team=team)
            except Exception:
                log.exception("digest failed", team=team)

        return run

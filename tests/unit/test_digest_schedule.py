"""The digest's schedule: one cron job per team at its day and time in its zone, kept in step with the teams;
and the grace period setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.digest_schedule import RESYNC_JOB, DigestSchedule
from bot.scheduler import build_scheduler
from bot.settings import ENV_NAMES, SettingsError, load_settings
from handlers.deps import Deps
from handlers.digest import TeamSchedule

NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)  # a Wednesday


def _deps() -> Deps:
    def no_store() -> object:
        raise AssertionError("the schedule itself reads nothing")

    return Deps(uow=no_store, clock=lambda: NOW)  # type: ignore[arg-type]


def _next_fire(scheduler: AsyncIOScheduler, job_id: str) -> datetime:
    job = scheduler.get_job(job_id)
    assert job is not None
    fire: datetime = job.trigger.get_next_fire_time(None, NOW)
    return fire.astimezone(UTC)


async def test_each_team_gets_a_cron_job_at_its_day_and_time_in_its_zone() -> None:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        schedule = DigestSchedule(scheduler, _deps(), timedelta(hours=24))
        schedule.sync(
            [
                TeamSchedule("payments", "mon", "09:00", "Europe/Paris"),
                TeamSchedule("search", "fri", "17:30", "America/New_York"),
            ]
        )

        assert _next_fire(scheduler, "digest:payments") == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # CET by then
        assert _next_fire(scheduler, "digest:search") == datetime(2026, 10, 30, 21, 30, tzinfo=UTC)
    finally:
        scheduler.shutdown(wait=False)


async def test_a_changed_schedule_replaces_the_job_and_a_removed_team_loses_it() -> None:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        schedule = DigestSchedule(scheduler, _deps(), timedelta(hours=24))
        schedule.sync([TeamSchedule("payments", "mon", "09:00", "UTC"), TeamSchedule("search", "mon", "09:00", "UTC")])

        schedule.sync([TeamSchedule("payments", "tue", "07:15", "UTC")])

        assert sorted(job.id for job in scheduler.get_jobs()) == ["digest:payments"]
        assert _next_fire(scheduler, "digest:payments") == datetime(2026, 11, 3, 7, 15, tzinfo=UTC)
    finally:
        scheduler.shutdown(wait=False)


async def test_the_digest_resync_runs_at_start_up_only_when_a_grace_period_is_given() -> None:
    with_digest = build_scheduler(_deps(), [], digest_grace=timedelta(hours=24))
    without = build_scheduler(_deps(), [])

    resync = with_digest.get_job(RESYNC_JOB)
    assert resync is not None and resync.next_run_time is not None
    assert resync.next_run_time <= datetime.now(UTC)
    assert without.get_jobs() == []


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for env in ENV_NAMES.values():
        monkeypatch.delenv(env, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean_environment")
def test_the_grace_period_is_a_day_unless_set() -> None:
    assert load_settings().digest_grace == 86400
    assert load_settings(RELEASEBOT_DIGEST_GRACE="6h").digest_grace == 6 * 3600
    assert load_settings(RELEASEBOT_DIGEST_GRACE="1d12h").digest_grace == 36 * 3600


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("value", ["600", "30s", "8d", "soon"])
def test_a_wrong_grace_period_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(RELEASEBOT_DIGEST_GRACE=value)

    assert caught.value.problems == [
        "RELEASEBOT_DIGEST_GRACE: must be a duration from 1m to 7d, like 6h, 24h or 2d (units s, m, h, d, w) "
        f"(got {value!r})"
    ]

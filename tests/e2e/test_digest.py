"""The weekly digest end to end: the preview command, and the scheduler posting each digest once, across a
restart."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.digest_schedule import RESYNC_JOB
from bot.fakeslack import FakeSlack
from bot.runtime import Runtime
from storage.engine import session_factory
from storage.rows import DigestRunRow, OutboxRow
from storage.uow import unit_of_work_factory
from tests.e2e.conftest import DEV, Bot, bot_settings
from tests.integration.conftest import FrozenClock
from tests.integration.test_digest import MONDAY_NINE, PAYMENTS_API_CHANNEL, PAYMENTS_CHANNEL, seed


async def _stored(bot: Bot) -> tuple[int, int]:
    async with bot.runtime.uow() as work:
        runs = (await work.session.execute(select(func.count(DigestRunRow.id)))).scalar_one()
        queued = await work.session.execute(select(func.count(OutboxRow.id)).where(OutboxRow.kind == "digest.weekly"))
        return runs, queued.scalar_one()


async def test_the_preview_shows_the_digest_only_to_the_caller_and_posts_nothing(configured: Bot) -> None:
    _, answer = await configured.command("digest preview team payments", user_id=DEV)
    await configured.settle()

    assert answer is not None
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Preview: Weekly DORA digest: payments\n")
    blocks: list[dict[str, Any]] = answer["blocks"]
    assert blocks[0]["elements"][0]["text"] == (
        ":eyes: Preview, only for you: nothing was posted or stored. "
        "It is posted in <#C0PAYMENTS1> every Monday at 09:00 (Europe/Paris)."
    )
    assert blocks[1] == {"type": "header", "text": {"type": "plain_text", "text": "Weekly DORA digest: payments"}}
    assert "no successful deployments" in json.dumps(blocks)
    assert configured.fake.calls_to("chat.postMessage") == []
    assert await _stored(configured) == (0, 0)


async def test_a_preview_of_an_unknown_team_or_by_someone_in_no_team_says_what_to_type(configured: Bot) -> None:
    unknown = await configured.say("digest preview team paymnts")
    teamless = await configured.say("digest preview")
    refused = await configured.say("digest preview team payments", user_id="U0VIEWER99")

    assert unknown == "There is no team `paymnts`.\nTeams: `payments`. Type `/release digest preview team <team>`."
    assert teamless == (
        "You are not in a team, so I don't know whose digest to show.\n"
        "Name one: `/release digest preview team <team>`. Teams: `payments`."
    )
    assert refused.startswith("You can't see DORA metrics: your role is viewer.")
    assert await _stored(configured) == (0, 0)


async def _start(database_url: str, fake: FakeSlack, clock: FrozenClock) -> Runtime:
    runtime = Runtime(bot_settings(database_url, fake), clock=clock, pace_s=0.0, poll_s=0.2, migrate=True)
    await runtime.start(schedule=True, run_pipeline=False)
    return runtime


def _digest_posts(fake: FakeSlack) -> list[tuple[str, str]]:
    return sorted(
        (str(call.args["channel"]), call.args["blocks"][0]["text"]["text"])
        for call in fake.calls_to("chat.postMessage")
        if "Weekly DORA digest" in str(call.args.get("text"))
    )


async def test_the_scheduler_posts_a_missed_digest_at_start_up_once_across_a_restart(
    database_url: str, migrated_engine: AsyncEngine, fake: FakeSlack
) -> None:
    await seed(unit_of_work_factory(session_factory(migrated_engine), FrozenClock()))
    clock = FrozenClock()
    clock.now = MONDAY_NINE + timedelta(hours=3)  # the bot was down at 09:00
    expected = [
        (PAYMENTS_API_CHANNEL, "Weekly DORA digest: payments-api"),
        (PAYMENTS_CHANNEL, "Weekly DORA digest: payments"),
    ]

    first = await _start(database_url, fake, clock)
    try:
        await fake.wait_for("chat.postMessage", lambda c: "Weekly DORA digest" in str(c.args.get("text")), count=2)
        jobs = {job.id: job for job in first.scheduler.get_jobs()} if first.scheduler else {}
        assert str(jobs["digest:payments"].trigger) == "cron[day_of_week='mon', hour='9', minute='0']"
        assert "digest:search" in jobs and RESYNC_JOB in jobs
    finally:
        await first.stop()
    assert _digest_posts(fake) == expected

    clock.advance(hours=1)
    second = await _start(database_url, fake, clock)
    try:
        assert second.scheduler is not None
        await second.scheduler.get_job(RESYNC_JOB).func()
        await second.delivery.deliver_due()
    finally:
        await second.stop()

    assert _digest_posts(fake) == expected

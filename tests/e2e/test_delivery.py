"""The outbox delivers every notification: paced, retried, resumed after a restart, with a fallback channel."""

from __future__ import annotations

import asyncio

from aiohttp import ClientSession
from sqlalchemy import select

from bot.fakeslack import FakeSlack
from handlers.delivery import DeliveryWorker
from storage.rows import OutboxRow
from tests.e2e.conftest import ADMIN, DEV, FALLBACK, Bot, start_bot


async def _deploy(bot: Bot, version: str = "v1") -> None:
    await bot.say(f"create payments-api {version}", user_id=DEV)
    await bot.say(f"deploy payments-api {version} to staging", user_id=DEV)


async def test_rate_limited_post_is_retried_after_retry_after(configured: Bot) -> None:
    bot = configured
    bot.fake.fail_next("chat.postMessage", status=429, retry_after=1)
    await _deploy(bot)
    posts = await bot.fake.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == "C0PAYMENTS1" and c.status == 200
    )
    assert len(posts) == 1
    statuses = [c.status for c in bot.fake.calls_to("chat.postMessage")]
    assert statuses[:2] == [429, 200]


async def test_server_errors_are_retried(configured: Bot) -> None:
    bot = configured
    bot.fake.fail_next("chat.postMessage", status=503)
    await _deploy(bot)
    posts = await bot.fake.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == "C0PAYMENTS1" and c.status == 200
    )
    assert len(posts) == 1


async def test_channel_without_the_bot_falls_back_and_tells_the_admins(configured: Bot) -> None:
    bot = configured
    bot.fake.add_channel("C0PAYMENTS1", "payments-releases", member=False)
    await _deploy(bot)
    fallback = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == FALLBACK)
    assert "Meant for <#C0PAYMENTS1>" in str(fallback[0].args["blocks"])
    note = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == ADMIN)
    assert "I couldn't post in <#C0PAYMENTS1> (not_in_channel)" in str(note[0].args["text"])
    async with bot.runtime.uow() as work:
        rows = (await work.session.execute(select(OutboxRow))).scalars().all()
        assert {(row.status, row.slack_channel) for row in rows if row.channel == "C0PAYMENTS1"} == {("sent", FALLBACK)}


async def test_undelivered_messages_are_sent_after_a_restart(database_url: str, fake: FakeSlack) -> None:
    runtime, server = await start_bot(database_url, fake, deliver=False)
    async with ClientSession() as http:
        first = Bot(runtime, server, http, fake)
        for text in (
            "team add payments channel <#C0PAYMENTS1|payments-releases>",
            "service add payments-api team payments channel <#C0PAYMENTS1|payments-releases>",
            "env add staging",
            f"user <@{DEV}|bob> role developer",
        ):
            await first.say(text)
        await _deploy(first)
    await server.close()
    await runtime.stop()
    assert fake.calls_to("chat.postMessage") == []

    runtime, server = await start_bot(database_url, fake, deliver=True)
    try:
        posts = await fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "C0PAYMENTS1")
        assert posts[0].args["text"] == "D-1: payments-api v1 to staging: deployed"
    finally:
        await server.close()
        await runtime.stop()


async def test_two_workers_deliver_each_message_once(configured: Bot) -> None:
    bot = configured
    await bot.settle()
    bot.runtime.delivery.stop()
    for version in ("v1", "v2", "v3"):
        await bot.say(f"create payments-api {version}", user_id=DEV)
        await bot.say(f"deploy payments-api {version} to staging", user_id=DEV)
    workers = [DeliveryWorker(bot.runtime.uow, bot.runtime.client, bot.runtime.clock, pace_s=0) for _ in range(2)]
    for _ in range(2):
        await asyncio.gather(*(worker.deliver_due() for worker in workers))
    posts = [c for c in bot.fake.calls_to("chat.postMessage") if c.args.get("channel") == "C0PAYMENTS1"]
    assert sorted(p.args["text"] for p in posts) == [
        f"D-{n}: payments-api v{n} to staging: deployed" for n in (1, 2, 3)
    ]

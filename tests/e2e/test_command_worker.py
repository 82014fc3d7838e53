"""``releasebot serve`` runs slash-command work in a companion process: the front acks and hands over."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.command_worker import WorkerLink
from bot.fakeslack import FakeSlack
from bot.runtime import Runtime
from bot.web import build_web_app
from storage.rows import ReleaseRow
from tests.e2e.conftest import ADMIN, SECRET, Bot, bot_settings


@pytest.fixture
async def front(database_url: str, fake: FakeSlack) -> AsyncIterator[tuple[Bot, WorkerLink]]:
    runtime = Runtime(bot_settings(database_url, fake), pace_s=0.0, migrate=True)
    await runtime.start(deliver=False, run_pipeline=False)
    worker = WorkerLink(
        env={
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_BASE_URL": fake.base_url,
            "DATABASE_URL": database_url,
            "RELEASEBOT_ADMINS": ADMIN,
            "LOG_LEVEL": "WARNING",
        }
    )
    await worker.start()
    runtime.deps.forward_command = worker.forward_command
    runtime.deps.wake_delivery = worker.wake
    runtime.deps.wake_pipeline = worker.wake
    server = TestServer(build_web_app(runtime), host="127.0.0.1", port=0)
    await server.start_server()
    async with ClientSession() as http:
        yield Bot(runtime, server, http, fake), worker
    await server.close()
    await worker.stop()
    await runtime.stop()


async def _release_versions(bot: Bot) -> list[str]:
    async with bot.runtime.uow() as uow:
        return list((await uow.session.execute(select(ReleaseRow.version).order_by(ReleaseRow.id))).scalars())


async def test_the_worker_runs_the_command_and_answers_through_the_response_url(
    front: tuple[Bot, WorkerLink],
) -> None:
    bot, worker = front
    assert await bot.say("team add payments channel <#C0PAYMENTS1|payments-releases>") == (
        "Saved team *payments*, channel <#C0PAYMENTS1>, time zone UTC."
    )
    reply, answer = await bot.command("service add payments-api team payments channel <#C0PAYMENTS1|pay>")
    assert reply.status == 200 and reply.body == ""
    assert answer is not None and answer["text"].startswith("Saved service *payments-api*")
    assert bot.runtime.deps.tasks.pending == 0  # nothing ran in the front
    assert await bot.say("create payments-api 1.0.0") == "Created R-1: *payments-api* `1.0.0`."
    assert await _release_versions(bot) == ["1.0.0"]
    assert (await bot.say("env add staging order 1")).startswith("Saved environment *staging*")
    assert (await bot.say("deploy payments-api 1.0.0 to staging")).startswith(":white_check_mark: D-1:")
    # The worker delivers the channel post (the front has no delivery loop).
    posts = await bot.fake.wait_for("chat.postMessage", lambda c: "1.0.0" in str(c.args.get("text")))
    assert posts[0].args["channel"] == "C0PAYMENTS1"
    assert worker.started == 1


async def test_a_command_sent_while_the_worker_is_down_runs_in_the_front_and_the_worker_comes_back(
    front: tuple[Bot, WorkerLink],
) -> None:
    bot, worker = front
    assert await bot.say("team add payments channel <#C0PAYMENTS1|payments-releases>") == (
        "Saved team *payments*, channel <#C0PAYMENTS1>, time zone UTC."
    )
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    for _ in range(500):  # until the front has noticed
        if not worker.alive:
            break
        await asyncio.sleep(0.01)
    assert not worker.alive
    answer = await bot.say("help")
    assert answer.startswith("*What you can do* (your role: admin)")
    for _ in range(600):
        if worker.alive:
            break
        await asyncio.sleep(0.05)
    assert worker.started == 2
    assert await bot.say("service add payments-api team payments channel <#C0PAYMENTS1|pay>") == (
        "Saved service *payments-api* (team payments); its messages go to <#C0PAYMENTS1>."
    )

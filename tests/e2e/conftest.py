"""The real aiohttp app on an ephemeral port, signed Slack requests, and a recording fake Slack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.fakeslack import FakeSlack
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.web import build_web_app
from storage.rows import OutboxRow
from tests.support import blockkit
from tests.support.slack_requests import FORM, block_actions, signed_headers, slash_command, view_submission

SECRET = "test-signing-secret-do-not-use"
ADMIN = "U0ALICE001"
DEV = "U0BOB00002"
FALLBACK = "C0RELOPS001"


@dataclass
class Reply:
    status: int
    body: str
    elapsed_s: float


class Bot:
    def __init__(self, runtime: Runtime, server: TestServer, http: ClientSession, fake: FakeSlack) -> None:
        self.runtime = runtime
        self.server = server
        self.http = http
        self.fake = fake
        self._n = 0

    @property
    def url(self) -> str:
        return str(self.server.make_url("/slack/events"))

    async def post(self, body: bytes, headers: dict[str, str]) -> Reply:
        started = time.perf_counter()
        response: ClientResponse = await self.http.post(self.url, data=body, headers=headers)
        text = await response.text()
        return Reply(response.status, text, time.perf_counter() - started)

    def slash_body(self, text: str, *, user_id: str = ADMIN, trigger_id: str | None = None) -> tuple[bytes, str]:
        self._n += 1
        key = f"cmd-{self._n}"
        trigger = trigger_id or f"{self._n}.{time.time_ns()}.trigger"
        body = slash_command(text, user_id=user_id, response_url=self.fake.response_url(key), trigger_id=trigger)
        return body, key

    async def command(
        self, text: str, *, user_id: str = ADMIN, wait: bool = True, retry_num: int | None = None
    ) -> tuple[Reply, dict[str, Any] | None]:
        """Send a signed ``/release`` command; with ``wait``, return the ephemeral reply too."""
        body, key = self.slash_body(text, user_id=user_id)
        reply = await self.post(
            body, signed_headers(body, SECRET, content_type="application/x-www-form-urlencoded", retry_num=retry_num)
        )
        if not wait:
            return reply, None
        calls = await self.fake.wait_for("response_url", lambda c: c.args.get("response_url_id") == key)
        return reply, calls[0].args

    async def say(self, text: str, *, user_id: str = ADMIN) -> str:
        """The text of the ephemeral reply to a command."""
        _, answer = await self.command(text, user_id=user_id)
        assert answer is not None
        return str(answer["text"])

    async def click(
        self, action_id: str, value: str, *, user_id: str, channel: str, ts: str, action_ts: str | None = None
    ) -> tuple[Reply, str]:
        """Press a button of a message the bot posted; returns the HTTP reply and the response_url key."""
        self._n += 1
        key = f"click-{self._n}"
        message = self.fake.message(channel, ts)
        body = block_actions(
            action_id,
            value,
            user_id=user_id,
            channel_id=channel,
            message_ts=ts,
            blocks=message["blocks"],
            response_url=self.fake.response_url(key),
            action_ts=action_ts,
        )
        return await self.post(body, signed_headers(body, SECRET, content_type=FORM)), key

    async def ephemeral(self, key: str) -> str:
        calls = await self.fake.wait_for("response_url", lambda c: c.args.get("response_url_id") == key)
        return str(calls[0].args["text"])

    async def submit(
        self, callback_id: str, values: dict[str, Any], *, user_id: str, view: dict[str, Any], private_metadata: str
    ) -> Reply:
        body = view_submission(callback_id, values, user_id=user_id, view=view, private_metadata=private_metadata)
        return await self.post(body, signed_headers(body, SECRET, content_type=FORM))

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the work after each ack is done and no notification is left undelivered."""
        deadline = time.monotonic() + timeout
        while True:
            await self.runtime.deps.tasks.drain()
            await self.runtime.delivery.deliver_due()
            async with self.runtime.uow() as work:
                pending = await work.session.execute(
                    select(func.count(OutboxRow.id)).where(OutboxRow.status == "pending")
                )
                if pending.scalar_one() == 0:
                    return
            assert time.monotonic() < deadline, "notifications still pending"
            await asyncio.sleep(0.02)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(validator=blockkit.validate) as slack:
        yield slack
        assert slack.validation_errors == []


def bot_settings(database_url: str, fake: FakeSlack, **extra: Any) -> Any:
    """Settings for HTTP mode; ``extra`` adds or overrides fields (``slack_signing_secret=None`` drops it)."""
    fields: dict[str, Any] = {
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": SECRET,
        "slack_api_base_url": fake.base_url,
        "database_url": database_url,
        "admins": ADMIN,
        "fallback_channel": FALLBACK,
    }
    return load_settings(_env_file=None, **{**fields, **extra})


async def start_bot(database_url: str, fake: FakeSlack, *, deliver: bool = True) -> tuple[Runtime, TestServer]:
    runtime = Runtime(bot_settings(database_url, fake), pace_s=0.0, poll_s=0.2, migrate=True)
    await runtime.start(deliver=deliver)
    server = TestServer(build_web_app(runtime), host="127.0.0.1", port=0)
    await server.start_server()
    return runtime, server


@pytest.fixture
async def bot(database_url: str, fake: FakeSlack) -> AsyncIterator[Bot]:
    runtime, server = await start_bot(database_url, fake)
    async with ClientSession() as http:
        yield Bot(runtime, server, http, fake)
    await server.close()
    await runtime.stop()


@pytest.fixture
async def configured(bot: Bot) -> Bot:
    """A team, a service and two environments, declared through admin commands."""
    for text in (
        "team add payments channel <#C0PAYMENTS1|payments-releases> tz Europe/Paris",
        "service add payments-api team payments channel <#C0PAYMENTS1|payments-releases>",
        "env add staging order 1",
        "env add production production order 2",
        f"user <@{DEV}|bob> role developer",
    ):
        answer = await bot.say(text)
        assert answer.startswith(("Saved", "<@")), answer
    return bot

"""Socket Mode: the real runtime connected through the SDK's WebSocket client to the fake Slack."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.fakeslack import Call, FakeSlack
from bot.fakeslack_socket import ACK, CONNECT
from bot.runtime import Runtime
from bot.serve import connect_socket_mode, open_socket_mode, serve
from bot.web import build_web_app
from storage.rows import ReleaseRow
from tests.e2e.conftest import ADMIN, DEV, bot_settings
from tests.support.slack_requests import FORM, new_trigger_id, slash_command, socket_envelope, user_name_for

APP_TOKEN = "xapp-1-test"
_keys = itertools.count(1)


def socket_settings(database_url: str, fake: FakeSlack) -> Any:
    """Socket Mode as deployed: a bot token and an app-level token, no signing secret."""
    return bot_settings(database_url, fake, slack_signing_secret=None, slack_app_token=APP_TOKEN)


@pytest.fixture
async def runtime(database_url: str, fake: FakeSlack) -> AsyncIterator[Runtime]:
    started = Runtime(socket_settings(database_url, fake), pace_s=0.0, poll_s=0.2, migrate=True)
    await started.start(run_pipeline=False)
    yield started
    await started.stop()


@pytest.fixture
async def handler(runtime: Runtime, fake: FakeSlack) -> AsyncIterator[AsyncSocketModeHandler]:
    connected = await open_socket_mode(runtime)
    assert connected is not None
    await fake.socket_wait_connected()
    yield connected
    await connected.close_async()


async def command(fake: FakeSlack, text: str, *, user_id: str = ADMIN) -> tuple[Call, dict[str, Any]]:
    """Push a ``/release`` envelope; return the app's ack and what it posted to the response_url."""
    key = f"socket-{next(_keys)}"
    envelope = socket_envelope(
        "slash_commands",
        text=text,
        user_id=user_id,
        user_name=user_name_for(user_id),
        response_url=fake.response_url(key),
        trigger_id=new_trigger_id(),
    )
    await fake.socket_send(envelope)
    (ack,) = await fake.wait_for(ACK, lambda c: c.args.get("envelope_id") == envelope["envelope_id"])
    (reply,) = await fake.wait_for("response_url", lambda c: c.args.get("response_url_id") == key)
    return ack, reply.args


async def test_slash_command_envelope_is_acked_and_answered_on_the_response_url(
    fake: FakeSlack, handler: AsyncSocketModeHandler
) -> None:
    (opened,) = fake.calls_to("apps.connections.open")
    assert opened.ok and opened.response["url"].startswith("ws://127.0.0.1:")
    (connected,) = fake.calls_to(CONNECT)
    assert connected.ok and connected.response["hello"]["num_connections"] == 1

    ack, reply = await command(fake, "help")

    assert ack.ok and set(ack.args) == {"envelope_id"}  # acked at once, the answer follows separately
    assert reply["response_type"] == "ephemeral"
    assert "/release env add" in reply["text"] and "/release deploy" in reply["text"]


async def test_release_created_over_socket_mode_is_stored(
    fake: FakeSlack, runtime: Runtime, handler: AsyncSocketModeHandler
) -> None:
    for text in (
        "team add payments channel <#C0PAYMENTS1|payments-releases> tz Europe/Paris",
        "service add payments-api team payments channel <#C0PAYMENTS1|payments-releases>",
        f"user <@{DEV}|bob> role developer",
    ):
        _, reply = await command(fake, text)
        assert reply["text"].startswith(("Saved", "<@")), reply["text"]

    _, reply = await command(fake, "create payments-api v1.4.2 commit 9f3c2ab notes Faster refunds", user_id=DEV)

    assert reply["text"] == "Created R-1: *payments-api* `v1.4.2` at `9f3c2ab`.\n>Faster refunds"
    async with runtime.uow() as work:
        release = await work.releases.get("payments-api", "v1.4.2")
        stored = (await work.session.execute(select(func.count(ReleaseRow.id)))).scalar_one()
    assert release is not None and release.reference == "R-1"
    assert (release.created_by, release.commit_sha, release.notes) == (DEV, "9f3c2ab", "Faster refunds")
    assert stored == 1


async def test_app_reconnects_after_a_disconnect_and_keeps_answering(
    fake: FakeSlack, handler: AsyncSocketModeHandler
) -> None:
    await fake.socket_disconnect()
    await fake.socket_wait_connected(count=2)

    assert len(fake.calls_to("apps.connections.open")) == 2  # a fresh URL for the new connection
    _, reply = await command(fake, "help")
    assert "/release status" in reply["text"]


@pytest.mark.parametrize(
    ("app_token", "error"),
    [("xoxb-a-bot-token", "not_allowed_token_type"), ("not-a-slack-token", "invalid_auth")],
)
async def test_a_token_that_is_not_an_app_token_is_refused_before_connecting(
    fake: FakeSlack, runtime: Runtime, app_token: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        await connect_socket_mode(runtime, app_token)

    assert refused.value.response["error"] == error
    assert fake.calls_to(CONNECT) == []


async def test_serve_uses_http_when_no_app_token_is_set(database_url: str, fake: FakeSlack) -> None:
    runtime = Runtime(bot_settings(database_url, fake), migrate=True)
    await runtime.start(deliver=False, run_pipeline=False)
    try:
        assert await open_socket_mode(runtime) is None
    finally:
        await runtime.stop()
    assert fake.calls_to("apps.connections.open") == []


async def test_serve_stops_with_a_clear_message_when_slack_refuses_the_app_token(
    database_url: str, fake: FakeSlack, migrated_engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail_next("apps.connections.open", error="invalid_auth")
    settings = socket_settings(database_url, fake).model_copy(update={"host": "127.0.0.1", "port": 0})

    assert await serve(settings) == 2

    err = capsys.readouterr().err
    assert "Slack refused the Socket Mode connection (invalid_auth)" in err and "SLACK_APP_TOKEN" in err
    assert fake.calls_to(CONNECT) == []


async def test_without_a_signing_secret_the_http_port_takes_no_slack_requests(
    fake: FakeSlack, runtime: Runtime
) -> None:
    """Socket Mode needs no signing secret, so nothing could verify a request posted to /slack/events."""
    body = slash_command("user <@U0EVE00005|eve> role admin", user_id=ADMIN, response_url=fake.response_url("forged"))
    server = TestServer(build_web_app(runtime), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with ClientSession() as http:
            forged = await http.post(server.make_url("/slack/events"), data=body, headers={"Content-Type": FORM})
            health = await http.get(server.make_url("/healthz"))
    finally:
        await server.close()

    assert forged.status == 404 and health.status == 200
    await runtime.deps.tasks.drain()
    assert fake.calls_to("response_url") == []

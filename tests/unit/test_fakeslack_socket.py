"""The fake Slack's Socket Mode: URLs from apps.connections.open, hello, envelopes, acks and disconnects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.fakeslack import FakeSlack
from bot.fakeslack_socket import ACK, CONNECT
from tests.support.slack_requests import sample, socket_envelope

APP_TOKEN = "xapp-1-A0RELBOT01-1-secret"
SERVER_TO_APP = sample("socket_mode_envelopes.json")["server_to_app"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as started:
        yield started


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def socket_url(fake: FakeSlack, token: str = APP_TOKEN) -> str:
    response = await AsyncWebClient(base_url=fake.base_url).apps_connections_open(app_token=token)
    return str(response["url"])


async def connect(fake: FakeSlack, http: aiohttp.ClientSession) -> tuple[aiohttp.ClientWebSocketResponse, Any]:
    """Open a connection the way the SDK does; returns it and the first message (hello)."""
    socket = await http.ws_connect(await socket_url(fake))
    return socket, await socket.receive_json(timeout=5)


async def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        await call
    return str(raised.value.response["error"])


async def test_connections_open_gives_a_loopback_websocket_url_with_a_ticket(fake: FakeSlack) -> None:
    url = await socket_url(fake)

    assert url.startswith("ws://127.0.0.1:") and "/socket-mode?ticket=" in url
    (call,) = fake.calls_to("apps.connections.open")
    assert call.ok and call.args == {}  # the token is not recorded


async def test_connections_open_takes_only_an_app_level_token(fake: FakeSlack) -> None:
    assert await error_of(socket_url(fake, "xoxb-bot-token")) == "not_allowed_token_type"
    assert await error_of(socket_url(fake, "garbage")) == "invalid_auth"
    assert await error_of(AsyncWebClient(base_url=fake.base_url).api_call("apps.connections.open")) == "not_authed"
    app_token_client = AsyncWebClient(token=APP_TOKEN, base_url=fake.base_url)
    assert await error_of(app_token_client.chat_postMessage(channel="C0PAYMENTS1", text="x")) == (
        "not_allowed_token_type"
    )


async def test_a_connection_is_greeted_with_hello_shaped_like_slack(
    fake: FakeSlack, http: aiohttp.ClientSession
) -> None:
    socket, greeting = await connect(fake, http)
    await fake.socket_wait_connected()

    assert greeting.keys() == SERVER_TO_APP["hello"].keys()
    assert greeting["type"] == "hello" and greeting["num_connections"] == 1
    assert greeting["connection_info"] == SERVER_TO_APP["hello"]["connection_info"]
    (call,) = fake.calls_to(CONNECT)
    assert call.ok and call.response["hello"] == greeting
    await socket.close()


async def test_a_ticket_opens_one_connection_only(fake: FakeSlack, http: aiohttp.ClientSession) -> None:
    url = await socket_url(fake)
    first = await http.ws_connect(url)

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url)

    assert refused.value.status == 401
    assert [c.status for c in fake.calls_to(CONNECT)] == [200, 401]
    await first.close()


async def test_envelopes_reach_the_app_and_its_acks_are_recorded(fake: FakeSlack, http: aiohttp.ClientSession) -> None:
    socket, _ = await connect(fake, http)
    await fake.socket_wait_connected()
    envelope = socket_envelope("slash_commands", text="help")

    await fake.socket_send(envelope)
    received = await socket.receive_json(timeout=5)
    answer = {"envelope_id": envelope["envelope_id"], "payload": {"text": "ok"}}
    await socket.send_json(answer)
    await socket.send_json(answer)  # a second ack of the same envelope
    await socket.send_str("not json")
    acks = await fake.wait_for(ACK, count=3)

    assert received == envelope
    assert acks[0].ok and acks[0].args == answer
    assert acks[1].response == {"ok": False, "error": "unknown_envelope_id"}
    assert acks[2].response == {"ok": False, "error": "invalid_json"} and acks[2].args == {"raw": "not json"}
    await socket.close()


async def test_each_envelope_goes_to_the_newest_connection(fake: FakeSlack, http: aiohttp.ClientSession) -> None:
    old, _ = await connect(fake, http)
    new, greeting = await connect(fake, http)
    await fake.socket_wait_connected(count=2)

    await fake.socket_send(socket_envelope("events_api"))

    assert greeting["num_connections"] == 2
    assert (await new.receive_json(timeout=5))["type"] == "events_api"
    with pytest.raises(TimeoutError):
        await old.receive(timeout=0.2)
    await old.close()
    await new.close()


async def test_disconnect_asks_every_connection_to_refresh(fake: FakeSlack, http: aiohttp.ClientSession) -> None:
    socket, _ = await connect(fake, http)
    await fake.socket_wait_connected()

    await fake.socket_disconnect()

    message = await socket.receive_json(timeout=5)
    assert message.keys() == SERVER_TO_APP["disconnect"].keys()
    assert (message["type"], message["reason"]) == ("disconnect", "refresh_requested")
    await socket.close()


async def test_sending_needs_a_connection_and_a_whole_envelope(fake: FakeSlack, http: aiohttp.ClientSession) -> None:
    with pytest.raises(RuntimeError, match="socket_wait_connected"):
        await fake.socket_send(socket_envelope("interactive"))
    socket, _ = await connect(fake, http)
    with pytest.raises(ValueError, match="envelope_id"):
        await fake.socket_send({"type": "interactive", "payload": {}})
    await socket.close()


async def test_waiting_for_a_connection_that_never_comes_fails_with_the_counts(fake: FakeSlack) -> None:
    with pytest.raises(AssertionError, match="0 opened, 0 open"):
        await fake.socket_wait_connected(timeout=0.1)


async def test_stopping_the_fake_closes_open_connections(http: aiohttp.ClientSession) -> None:
    fake = FakeSlack()
    await fake.start()
    socket, _ = await connect(fake, http)
    await fake.socket_wait_connected()

    await fake.stop()

    closing = await socket.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)

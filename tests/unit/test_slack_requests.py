"""Requests built by tests.support.slack_requests are byte-for-byte what Slack sends, and verify."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.async_app import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.fakeslack import FakeSlack
from tests.support import slack_requests as sr

SECRET = "test-signing-secret-do-not-use"
SAMPLE_TS = 1767225600


def interactive_payload(body: bytes) -> dict[str, Any]:
    (encoded,) = parse_qs(body.decode("ascii"))["payload"]
    payload: dict[str, Any] = json.loads(encoded)
    return payload


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verifies(body: bytes, headers: dict[str, str], *, now: float | None = None) -> bool:
    verifier = SignatureVerifier(SECRET) if now is None else SignatureVerifier(SECRET, clock=_FixedClock(now))
    return verifier.is_valid_request(body, headers)


# -- signing ------------------------------------------------------------------------------------


def test_signature_matches_slacks_official_vector() -> None:
    vector = sr.sample("signature_test_vectors.json")["official_vector"]

    headers = sr.sign(vector["raw_body"].encode(), vector["signing_secret"], int(vector["timestamp"]))

    assert headers == {
        "X-Slack-Request-Timestamp": vector["timestamp"],
        "X-Slack-Signature": vector["x_slack_signature"],
    }


@pytest.mark.parametrize(
    "name",
    ["slash_command.json", "block_actions.json", "view_submission.json", "event_app_home_opened.json"],
)
def test_signature_reproduces_every_sample_signature(name: str) -> None:
    saved = sr.sample(name)

    headers = sr.sign(saved["raw_body"].encode(), SECRET, SAMPLE_TS)

    assert headers["X-Slack-Signature"] == saved["signature"]["x_slack_signature"]
    assert headers["X-Slack-Signature"] == saved["http"]["headers"]["X-Slack-Signature"]


def test_signed_headers_carry_slacks_headers_and_retry_headers_on_request() -> None:
    body = sr.app_home_opened("U0ALICE001")

    first = sr.signed_headers(body, SECRET, content_type=sr.JSON)
    retry = sr.signed_headers(body, SECRET, content_type=sr.JSON, retry_num=2, retry_reason="http_error")

    assert first["Content-Type"] == "application/json"
    assert first["User-Agent"].startswith("Slackbot 1.0")
    assert "X-Slack-Retry-Num" not in first
    assert (retry["X-Slack-Retry-Num"], retry["X-Slack-Retry-Reason"]) == ("2", "http_error")
    assert abs(int(first["X-Slack-Request-Timestamp"]) - time.time()) < 5


@pytest.mark.parametrize(
    "body",
    [
        sr.slash_command("deploy payments-api v1.4.2 --env prod"),
        sr.block_actions("release_approve", "REL-42"),
        sr.view_submission("release_reject_modal", {"reason": "Canary error rate > 2%", "notify": ["post"]}),
        sr.app_home_opened("U0ALICE001"),
    ],
    ids=["slash_command", "block_actions", "view_submission", "app_home_opened"],
)
def test_signature_verifier_accepts_signed_bodies_and_rejects_tampering_and_replays(body: bytes) -> None:
    headers = sr.signed_headers(body, SECRET, content_type=sr.FORM)
    stale = sr.signed_headers(body, SECRET, content_type=sr.FORM, ts=int(time.time()) - 301)

    assert verifies(body, headers)
    assert not verifies(body + b"x", headers)
    assert not verifies(body, stale)
    assert verifies(body, sr.sign(body, SECRET, SAMPLE_TS), now=SAMPLE_TS + 10)


# -- bodies -------------------------------------------------------------------------------------


def test_slash_command_with_the_sample_values_is_the_sample_body() -> None:
    saved = sr.sample("slash_command.json")

    body = sr.slash_command("deploy payments-api v1.4.2 --env prod", trigger_id=saved["form_fields"]["trigger_id"])

    assert body.decode() == saved["raw_body"]


def test_slash_command_fields_follow_the_arguments() -> None:
    body = sr.slash_command(
        "approve D-42 & ship <now>", user_id="U0BOB00002", channel_id="C0OTHER0001", response_url="http://x/r/1"
    )

    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    assert list(fields) == list(sr.sample("slash_command.json")["form_fields"])
    assert fields["text"] == "approve D-42 & ship <now>"
    assert (fields["user_id"], fields["user_name"]) == ("U0BOB00002", "bob")
    assert (fields["channel_id"], fields["response_url"]) == ("C0OTHER0001", "http://x/r/1")
    assert b"+" in body and unquote_plus(body.decode()).count("approve D-42") == 1


def test_each_request_gets_a_fresh_trigger_id_in_slacks_format() -> None:
    ids = {parse_qs(sr.slash_command("help").decode())["trigger_id"][0] for _ in range(20)}

    assert len(ids) == 20
    assert all(len(t.split(".")) == 3 for t in ids)


def test_block_actions_with_the_sample_values_is_the_sample_body() -> None:
    saved = sr.sample("block_actions.json")

    body = sr.block_actions(
        "release_approve",
        "REL-42",
        trigger_id=saved["payload"]["trigger_id"],
        action_ts=saved["payload"]["actions"][0]["action_ts"],
    )

    assert body.decode() == saved["raw_body"]


def test_block_actions_takes_the_clicked_element_from_the_given_blocks() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "s", "text": {"type": "mrkdwn", "text": "D-7"}},
        {
            "type": "actions",
            "block_id": "decide:D-7",
            "elements": [
                {
                    "type": "button",
                    "action_id": "deployment_reject",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "style": "danger",
                    "value": "D-7",
                },
            ],
        },
    ]

    payload = interactive_payload(
        sr.block_actions(
            "deployment_reject",
            "D-7",
            user_id="U0CAROL003",
            channel_id="C0OTHER0001",
            message_ts="1767225600.000300",
            response_url="http://127.0.0.1:1/response/x",
            blocks=blocks,
        )
    )

    (action,) = payload["actions"]
    assert (action["block_id"], action["style"], action["value"]) == ("decide:D-7", "danger", "D-7")
    assert payload["message"]["blocks"] == blocks
    assert payload["message"]["ts"] == payload["container"]["message_ts"] == "1767225600.000300"
    assert payload["channel"]["id"] == payload["container"]["channel_id"] == "C0OTHER0001"
    assert payload["user"]["id"] == "U0CAROL003"
    assert payload["response_url"] == "http://127.0.0.1:1/response/x"
    with pytest.raises(ValueError):
        sr.block_actions("no_such_button", "x", blocks=blocks)


def test_view_submission_with_the_sample_values_matches_the_sample_payload() -> None:
    saved = sr.sample("view_submission.json")["payload"]

    payload = interactive_payload(
        sr.view_submission(
            "release_reject_modal",
            {"reason": "Canary error rate > 2%", "notify": ["post"]},
            private_metadata=saved["view"]["private_metadata"],
            trigger_id=saved["trigger_id"],
        )
    )

    payload["view"].pop("hash")
    saved["view"].pop("hash")
    assert payload == saved


def test_view_submission_accepts_slacks_state_shape_verbatim() -> None:
    state = {"reason_text": {"type": "plain_text_input", "value": None}}

    payload = interactive_payload(sr.view_submission("release_reject_modal", {"reason": state}))

    assert payload["view"]["state"]["values"] == {"reason": state}
    with pytest.raises(ValueError):
        sr.view_submission("release_reject_modal", {"no_such_block": "x"})


def test_app_home_opened_is_a_fresh_event_unless_an_event_id_is_given() -> None:
    first = json.loads(sr.app_home_opened("U0BOB00002"))
    second = json.loads(sr.app_home_opened("U0BOB00002"))
    retried = json.loads(sr.app_home_opened("U0BOB00002", event_id=first["event_id"]))
    with_view = json.loads(sr.app_home_opened("U0BOB00002", view={"type": "home", "blocks": []}))

    assert first["type"] == "event_callback"
    assert (first["event"]["user"], first["event"]["channel"]) == ("U0BOB00002", "D0BOB00002")
    assert "view" not in first["event"]
    assert first["event_id"] != second["event_id"]
    assert retried["event_id"] == first["event_id"]
    assert with_view["event"]["view"]["type"] == "home"


# -- Bolt understands them ------------------------------------------------------------------------


@dataclass
class Routed:
    app: AsyncApp
    seen: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def record(self, kind: str, ack: AsyncAck | None) -> None:
        if ack is not None:
            await ack()
        self.seen.append(kind)
        self.done.set()


@pytest.fixture
async def routed() -> AsyncIterator[Routed]:
    async with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
        routed = Routed(AsyncApp(client=client, signing_secret=SECRET))

        @routed.app.command("/release")
        async def command(ack: AsyncAck) -> None:
            await routed.record("command", ack)

        @routed.app.action("release_approve")
        async def action(ack: AsyncAck) -> None:
            await routed.record("action", ack)

        @routed.app.view("release_reject_modal")
        async def view(ack: AsyncAck) -> None:
            await routed.record("view", ack)

        @routed.app.event("app_home_opened")
        async def home() -> None:
            await routed.record("event", None)

        yield routed


@pytest.mark.parametrize(
    ("kind", "body", "content_type"),
    [
        ("command", sr.slash_command("deploy payments-api v1.4.2"), sr.FORM),
        ("action", sr.block_actions("release_approve", "REL-42"), sr.FORM),
        ("view", sr.view_submission("release_reject_modal", {"reason": "Because"}), sr.FORM),
        ("event", sr.app_home_opened("U0ALICE001"), sr.JSON),
    ],
)
async def test_bolt_routes_signed_requests_to_their_listeners(
    routed: Routed, kind: str, body: bytes, content_type: str
) -> None:
    headers: dict[str, str | Sequence[str]] = {**sr.signed_headers(body, SECRET, content_type=content_type)}

    response = await routed.app.async_dispatch(AsyncBoltRequest(body=body.decode(), headers=headers))
    await asyncio.wait_for(routed.done.wait(), timeout=5)

    assert response.status == 200
    assert routed.seen == [kind]


def test_bolt_cannot_parse_a_slash_command_whose_text_mentions_payload() -> None:
    """Bolt's parse_body treats any form body containing "payload" as interactivity: worth knowing."""
    body = sr.slash_command("deploy payload-api v1.0.0").decode()

    assert parse_body(body, sr.FORM) == {}

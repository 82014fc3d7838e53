"""The fake Slack Web API answers a real AsyncWebClient the way Slack does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.fakeslack import Call, FakeSlack
from tests.support import blockkit

CHANNEL = "C0PAYMENTS1"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*payments-api* `v1.4.2`"}}
MODAL = {
    "type": "modal",
    "callback_id": "release_reject_modal",
    "title": {"type": "plain_text", "text": "Reject release"},
    "blocks": [SECTION],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(validator=blockkit.validate) as started:
        started.add_channel(CHANNEL, "payments-releases")
        yield started


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.base_url)


async def error_of(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        await call
    return raised.value


# -- messages -----------------------------------------------------------------------------------


async def test_post_message_answers_with_channel_ts_and_echo_and_is_kept(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    response = await client.chat_postMessage(channel=CHANNEL, text="Release request", blocks=[SECTION])

    assert response["ok"] is True
    assert response["channel"] == CHANNEL
    assert response["message"]["text"] == "Release request"
    assert response["message"]["bot_id"] == fake.bot_id
    assert response["message"]["blocks"][0]["block_id"]  # Slack fills in missing block ids
    (kept,) = fake.messages(CHANNEL)
    assert kept["ts"] == response["ts"]
    assert kept["text"] == "Release request"
    assert kept["thread_ts"] is None
    assert fake.message(CHANNEL, response["ts"])["blocks"][0]["text"] == SECTION["text"]
    (call,) = fake.calls_to("chat.postMessage")
    assert call.args == {"channel": CHANNEL, "text": "Release request", "blocks": [SECTION]}
    assert call.ok and call.status == 200
    assert fake.validation_errors == []


async def test_message_timestamps_are_strictly_increasing_slack_style_strings(client: AsyncWebClient) -> None:
    stamps = [(await client.chat_postMessage(channel=CHANNEL, text=f"m{i}"))["ts"] for i in range(5)]

    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 5
    assert all(len(ts) == 17 and ts[10] == "." for ts in stamps)


async def test_thread_replies_keep_their_thread_ts(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="parent")
    reply = await client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=parent["ts"])

    assert fake.message(CHANNEL, reply["ts"])["thread_ts"] == parent["ts"]


async def test_update_replaces_text_and_blocks_in_place(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="pending", blocks=[SECTION])
    approved = {"type": "section", "text": {"type": "mrkdwn", "text": "Approved by <@U0BOB00002>"}}

    response = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="approved", blocks=[approved])

    assert response["ts"] == posted["ts"]
    assert response["text"] == "approved"
    (message,) = fake.messages(CHANNEL)
    assert message["text"] == "approved"
    assert message["blocks"][0]["text"] == approved["text"]


async def test_update_with_text_only_keeps_the_blocks(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="pending", blocks=[SECTION])

    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="still pending")

    assert fake.message(CHANNEL, posted["ts"])["blocks"][0]["text"] == SECTION["text"]


async def test_update_of_unknown_ts_answers_message_not_found(client: AsyncWebClient) -> None:
    error = await error_of(client.chat_update(channel=CHANNEL, ts="1767225600.999900", text="x"))

    assert error.response.status_code == 200
    assert error.response["error"] == "message_not_found"


async def test_post_without_text_blocks_or_attachments_answers_no_text(client: AsyncWebClient) -> None:
    error = await error_of(client.api_call("chat.postMessage", json={"channel": CHANNEL}))

    assert error.response["error"] == "no_text"


async def test_post_to_channel_without_membership_answers_not_in_channel(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.add_channel("C0OUTSIDE01", "elsewhere", member=False)

    error = await error_of(client.chat_postMessage(channel="C0OUTSIDE01", text="hello"))

    assert error.response["error"] == "not_in_channel"
    assert fake.messages("C0OUTSIDE01") == []
    assert fake.calls_to("chat.postMessage")[0].ok is False


async def test_joining_a_channel_makes_posting_possible(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("C0OUTSIDE01", "elsewhere", member=False)

    joined = await client.conversations_join(channel="C0OUTSIDE01")
    await client.chat_postMessage(channel="C0OUTSIDE01", text="hello")

    assert joined["channel"]["is_member"] is True
    assert [m["text"] for m in fake.messages("C0OUTSIDE01")] == ["hello"]


async def test_unregistered_channel_ids_exist_unless_channels_are_strict(client: AsyncWebClient) -> None:
    assert (await client.chat_postMessage(channel="C0NEWCHAN01", text="hi"))["channel"] == "C0NEWCHAN01"

    async with FakeSlack(strict_channels=True) as strict:
        strict_client = AsyncWebClient(token="xoxb-test", base_url=strict.base_url)
        error = await error_of(strict_client.chat_postMessage(channel="C0NEWCHAN01", text="hi"))
    assert error.response["error"] == "channel_not_found"


async def test_channel_names_resolve_and_unknown_names_answer_channel_not_found(client: AsyncWebClient) -> None:
    by_name = await client.chat_postMessage(channel="#payments-releases", text="hi")
    error = await error_of(client.chat_postMessage(channel="no-such-channel", text="hi"))

    assert by_name["channel"] == CHANNEL
    assert error.response["error"] == "channel_not_found"


async def test_post_to_user_id_lands_in_the_dm_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.chat_postMessage(channel="U0ALICE001", text="Your release is live")
    opened = await client.conversations_open(users="U0ALICE001")
    info = await client.conversations_info(channel=response["channel"])

    assert response["channel"] == "D0ALICE001"
    assert opened["channel"]["id"] == "D0ALICE001"
    assert info["channel"]["is_im"] is True and info["channel"]["user"] == "U0ALICE001"
    assert [m["text"] for m in fake.messages("U0ALICE001")] == ["Your release is live"]
    assert fake.messages("D0ALICE001") == fake.messages("U0ALICE001")


async def test_ephemeral_reply_answers_message_ts_and_is_not_a_channel_message(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    response = await client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE001", text="Only you")

    assert response["message_ts"]
    assert fake.messages(CHANNEL) == []
    assert [e["text"] for e in fake.ephemerals(CHANNEL, user="U0ALICE001")] == ["Only you"]


async def test_delete_reactions_and_permalink_act_on_kept_messages(fake: FakeSlack, client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel=CHANNEL, text="first")
    second = await client.chat_postMessage(channel=CHANNEL, text="second")

    await client.reactions_add(channel=CHANNEL, timestamp=first["ts"], name="white_check_mark")
    again = await error_of(client.reactions_add(channel=CHANNEL, timestamp=first["ts"], name="white_check_mark"))
    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=first["ts"])
    await client.chat_delete(channel=CHANNEL, ts=second["ts"])

    assert again.response["error"] == "already_reacted"
    assert fake.message(CHANNEL, first["ts"])["reactions"] == [
        {"name": "white_check_mark", "users": [fake.bot_user_id], "count": 1}
    ]
    assert link["permalink"].endswith(f"/archives/{CHANNEL}/p{first['ts'].replace('.', '')}")
    assert [m["text"] for m in fake.messages(CHANNEL)] == ["first"]


async def test_auth_test_and_users_info_answer_like_the_samples(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user("U0ALICE001", "alice", real_name="Alice Example", tz="Europe/Berlin")

    auth = await client.auth_test()
    user = await client.users_info(user="U0ALICE001")

    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("U0RELBOT01", "B0RELBOT01", "T0RELTEAM1")
    assert user["user"]["name"] == "alice"
    assert user["user"]["tz"] == "Europe/Berlin"
    assert user["user"]["real_name"] == "Alice Example"


async def test_form_encoded_arguments_with_json_strings_are_decoded(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.api_call(
        "chat.postMessage", data={"channel": CHANNEL, "text": "form", "blocks": json.dumps([SECTION])}
    )
    await client.api_call("conversations.info", http_verb="GET", params={"channel": CHANNEL})

    (posted,) = fake.messages(CHANNEL)
    assert posted["blocks"][0]["text"] == SECTION["text"]
    assert fake.calls_to("conversations.info")[0].args == {"channel": CHANNEL}


async def test_missing_or_foreign_tokens_answer_not_authed_and_invalid_auth(fake: FakeSlack) -> None:
    anonymous = AsyncWebClient(base_url=fake.base_url)
    user_token = AsyncWebClient(token="xoxp-user-token", base_url=fake.base_url)

    assert (await error_of(anonymous.auth_test())).response["error"] == "not_authed"
    assert (await error_of(user_token.auth_test())).response["error"] == "invalid_auth"


async def test_unknown_method_answers_unknown_method(client: AsyncWebClient) -> None:
    error = await error_of(client.api_call("releases.frobnicate"))

    assert error.response["error"] == "unknown_method"


async def test_invalid_blocks_are_rejected_and_collected(fake: FakeSlack, client: AsyncWebClient) -> None:
    button = {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "x" * 76}}

    error = await error_of(
        client.chat_postMessage(channel=CHANNEL, text="x", blocks=[{"type": "actions", "elements": [button]}])
    )

    assert error.response["error"] == "invalid_blocks"
    assert error.response["errors"] == fake.validation_errors
    assert "[json-pointer:/blocks/0/elements/0/text/text]" in fake.validation_errors[0]
    assert fake.messages(CHANNEL) == []
    fake.clear()
    assert fake.validation_errors == [] and fake.calls == []


# -- views --------------------------------------------------------------------------------------


async def test_views_open_update_and_push_keep_view_state(fake: FakeSlack, client: AsyncWebClient) -> None:
    opened = await client.views_open(trigger_id="7001.1.aa", view=MODAL)
    view_id = opened["view"]["id"]
    updated_modal = {**MODAL, "title": {"type": "plain_text", "text": "Rejected"}}
    updated = await client.views_update(view_id=view_id, hash=opened["view"]["hash"], view=updated_modal)
    stale = await error_of(client.views_update(view_id=view_id, hash=opened["view"]["hash"], view=MODAL))
    missing = await error_of(client.views_update(view_id="V0NOTHERE01", view=MODAL))
    pushed = await client.views_push(trigger_id="7001.2.bb", view=MODAL)

    assert opened["view"]["type"] == "modal" and opened["view"]["callback_id"] == "release_reject_modal"
    assert opened["view"]["state"] == {"values": {}}
    assert updated["view"]["id"] == view_id and updated["view"]["hash"] != opened["view"]["hash"]
    assert fake.view(view_id)["title"]["text"] == "Rejected"
    assert stale.response["error"] == "hash_conflict"
    assert missing.response["error"] == "not_found"
    assert pushed["view"]["id"] != view_id


async def test_a_trigger_id_opens_one_modal_only(client: AsyncWebClient) -> None:
    await client.views_open(trigger_id="7001.1.aa", view=MODAL)

    reused = await error_of(client.views_open(trigger_id="7001.1.aa", view=MODAL))
    without = await error_of(client.api_call("views.open", json={"view": MODAL}))

    assert reused.response["error"] == "exchanged_trigger_id"
    assert without.response["error"] == "invalid_arguments"


async def test_views_are_validated_for_their_surface(fake: FakeSlack, client: AsyncWebClient) -> None:
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}

    error = await error_of(client.views_open(trigger_id="7001.1.aa", view=long_title))

    assert error.response["error"] == "invalid_blocks"
    assert any("/view/title/text" in problem for problem in fake.validation_errors)


async def test_views_publish_keeps_one_home_view_per_user(fake: FakeSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [SECTION]}

    first = await client.views_publish(user_id="U0ALICE001", view=home)
    second = await client.views_publish(user_id="U0ALICE001", view={**home, "private_metadata": "v2"})

    assert first["view"]["id"] == second["view"]["id"]
    assert first["view"]["type"] == "home"
    published = fake.home_view("U0ALICE001")
    assert published is not None and published["private_metadata"] == "v2"
    assert fake.home_view("U0BOB00002") is None


# -- files --------------------------------------------------------------------------------------


async def test_files_upload_v2_round_trip_records_the_content_and_shares_the_file(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    notes = "# payments-api v1.4.2\n\n- fix retries\n"

    response = await client.files_upload_v2(
        channel=CHANNEL, content=notes, filename="release-notes-v1.4.2.md", title="Release notes"
    )

    file_id = response["file"]["id"]
    assert response["files"] == [{"id": file_id, "title": "Release notes"}]
    (upload,) = fake.calls_to("upload_url")
    assert upload.args["content"] == notes.encode()
    assert fake.file(file_id)["content"] == notes.encode()
    assert fake.file(file_id)["name"] == "release-notes-v1.4.2.md"
    (shared,) = fake.messages(CHANNEL)
    assert shared["files"] == [{"id": file_id, "title": "Release notes"}]
    assert fake.calls_to("files.getUploadURLExternal")[0].response["upload_url"].startswith(fake.base_url[:-4])


async def test_completing_an_upload_that_never_happened_answers_file_not_found(client: AsyncWebClient) -> None:
    url = await client.files_getUploadURLExternal(filename="notes.md", length=5)

    error = await error_of(client.files_completeUploadExternal(files=[{"id": url["file_id"], "title": "n"}]))

    assert error.response["error"] == "file_not_found"


# -- fault injection ----------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", retry_after=30)

    error = await error_of(client.chat_postMessage(channel=CHANNEL, text="hi"))

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "30"
    assert error.response["error"] == "ratelimited"
    (call,) = fake.calls_to("chat.postMessage")
    assert call.status == 429 and not call.ok
    assert fake.messages(CHANNEL) == []


async def test_rate_limit_retry_handler_retries_and_succeeds(fake: FakeSlack) -> None:
    retrying = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    retrying.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    fake.fail_next("chat.postMessage", retry_after=0)

    response = await retrying.chat_postMessage(channel=CHANNEL, text="hi")

    assert response["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]
    assert len(fake.messages(CHANNEL)) == 1


async def test_server_errors_answer_5xx_and_the_server_error_handler_retries(fake: FakeSlack) -> None:
    plain = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    retrying = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
    no_wait = FixedValueRetryIntervalCalculator(fixed_internal=0.0)
    retrying.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=no_wait))
    fake.fail_next("chat.update", status=503)
    fake.fail_next("chat.postMessage", status=503, times=2)

    error = await error_of(plain.chat_update(channel=CHANNEL, ts="1.2", text="x"))
    response = await retrying.chat_postMessage(channel=CHANNEL, text="hi")

    assert error.response.status_code == 503
    assert response["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [503, 503, 200]


async def test_injected_error_answers_ok_false_once(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", error="is_archived")

    error = await error_of(client.chat_postMessage(channel=CHANNEL, text="hi"))
    later = await client.chat_postMessage(channel=CHANNEL, text="hi")

    assert (error.response.status_code, error.response["error"]) == (200, "is_archived")
    assert later["ok"] is True


def test_fail_next_refuses_a_status_slack_does_not_use() -> None:
    with pytest.raises(ValueError):
        FakeSlack().fail_next("chat.postMessage", status=404)


# -- waiting, response URLs, callbacks ------------------------------------------------------------


async def test_wait_for_returns_calls_made_after_it_started(fake: FakeSlack, client: AsyncWebClient) -> None:
    async def post_later() -> None:
        await asyncio.sleep(0.01)
        await client.chat_postMessage(channel=CHANNEL, text="first")
        await client.chat_postMessage(channel=CHANNEL, text="second")

    task = asyncio.create_task(post_later())
    calls = await fake.wait_for("chat.postMessage", lambda c: c.args["text"] == "second")
    await task

    assert [c.args["text"] for c in calls] == ["second"]
    assert len(await fake.wait_for("chat.postMessage", count=2)) == 2


async def test_wait_for_timeout_fails_with_the_calls_received_so_far(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="only this")

    with pytest.raises(AssertionError) as failure:
        await fake.wait_for("chat.update", timeout=0.05)

    message = str(failure.value)
    assert "chat.update" in message
    assert "chat.postMessage -> 200 ok" in message and "only this" in message


async def test_response_url_posts_are_recorded_with_their_key(fake: FakeSlack) -> None:
    url = fake.response_url("cmd-1")

    async with aiohttp.ClientSession() as session, session.post(url, json={"text": "Working on it"}) as reply:
        status = reply.status

    assert url.startswith(fake.response_url_base)
    assert status == 200
    (call,) = await fake.wait_for("response_url")
    assert call.args == {"text": "Working on it", "response_url_id": "cmd-1"}


async def test_bound_response_url_posts_in_channel_and_replaces_the_original(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    original = await client.chat_postMessage(channel=CHANNEL, text="Approve?", blocks=[SECTION])
    url = fake.response_url("click-1", channel=CHANNEL, message_ts=original["ts"])

    async with aiohttp.ClientSession() as session:
        await session.post(url, json={"replace_original": True, "text": "Approved"})
        await session.post(url, json={"response_type": "in_channel", "text": "Deploying"})

    assert [m["text"] for m in fake.messages(CHANNEL)] == ["Approved", "Deploying"]


async def test_on_call_sees_every_recorded_call_and_its_failures_are_contained(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    seen: list[Call] = []

    def watch(call: Call) -> None:
        seen.append(call)
        raise RuntimeError("a broken observer must not break the fake")

    fake.on_call = watch
    await client.chat_postMessage(channel=CHANNEL, text="hi")

    assert [c.method for c in seen] == ["chat.postMessage"]


def test_urls_are_refused_before_the_server_has_started() -> None:
    with pytest.raises(RuntimeError):
        _ = FakeSlack().base_url

"""The create-release form, end to end: opened at once with the command's trigger, each field checked inline
with the command's rules, then the release and the usual reply."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, select

from handlers import ids
from storage.rows import AuditRow, ReleaseRow
from tests.e2e.conftest import DEV, SECRET, Bot
from tests.support import blockkit
from tests.support.form_requests import block_suggestion, external_option
from tests.support.slack_requests import FORM, signed_headers, slash_command, view_submission

CHANNEL = "C0PAYMENTS1"
VIEWER = "U0DAVE0004"


async def releases(bot: Bot) -> list[tuple[str, str | None, str | None]]:
    async with bot.runtime.uow() as work:
        rows = (await work.session.execute(select(ReleaseRow).order_by(ReleaseRow.id))).scalars()
        return [(row.version, row.commit_sha, row.notes) for row in rows]


async def open_form(bot: Bot, *, user_id: str = DEV) -> dict[str, Any]:
    trigger = f"{time.time_ns()}.create.trigger"
    body = slash_command("create", user_id=user_id, trigger_id=trigger, response_url=bot.fake.response_url(trigger))
    reply = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    assert (reply.status, reply.body) == (200, "")
    (opened,) = await bot.fake.wait_for("views.open", lambda c: c.args.get("trigger_id") == trigger)
    return bot.fake.view(opened.response["view"]["id"])


def values(service: str | None, version: str, commit: str = "", notes: str = "") -> dict[str, Any]:
    chosen = external_option(service) if service else None
    return {
        ids.BLOCK_FORM_SERVICE: {ids.ACTION_FORM_SERVICE: {"type": "external_select", "selected_option": chosen}},
        ids.BLOCK_FORM_VERSION: version,
        ids.BLOCK_FORM_COMMIT: commit or None,
        ids.BLOCK_FORM_NOTES: notes or None,
    }


async def submit(bot: Bot, view: dict[str, Any], fields: dict[str, Any], *, user_id: str = DEV) -> dict[str, Any]:
    body = view_submission(
        ids.VIEW_CREATE_FORM, fields, user_id=user_id, view=view, private_metadata=view["private_metadata"]
    )
    reply = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    assert reply.status == 200
    answer: dict[str, Any] = json.loads(reply.body)
    return answer


async def test_create_alone_opens_the_form_at_once(configured: Bot) -> None:
    view = await open_form(configured)
    assert view["callback_id"] == ids.VIEW_CREATE_FORM
    assert [b["block_id"] for b in view["blocks"]] == [
        ids.BLOCK_FORM_SERVICE,
        ids.BLOCK_FORM_VERSION,
        ids.BLOCK_FORM_COMMIT,
        ids.BLOCK_FORM_NOTES,
    ]
    assert json.loads(view["private_metadata"]) == {"channel": CHANNEL}
    assert configured.fake.calls_to("views.update") == []  # nothing to load into it
    blockkit.assert_valid("modal", blockkit.view_as_request(view))
    body = block_suggestion(ids.ACTION_FORM_SERVICE, "pay", view=view)
    reply = await configured.post(body, signed_headers(body, SECRET, content_type=FORM))
    assert [o["value"] for o in json.loads(reply.body)["options"]] == ["payments-api"]


async def test_malformed_fields_are_shown_on_each_field_and_nothing_is_stored(configured: Bot) -> None:
    bot = configured
    view = await open_form(bot)
    answer = await submit(bot, view, values(None, "v1/../../etc", commit="xyz", notes=""))
    assert answer == {
        "response_action": "errors",
        "errors": {
            ids.BLOCK_FORM_SERVICE: "Pick a service.",
            ids.BLOCK_FORM_VERSION: "v1/../../etc is not a valid version: use up to 64 letters, digits, ., _, + or -, "
            "like v1.4.2 or 2026.11.22-1.",
            ids.BLOCK_FORM_COMMIT: "xyz is not a commit sha: give 7 to 64 hexadecimal characters.",
        },
    }
    assert await releases(bot) == []


async def test_an_unknown_service_and_a_duplicate_version_are_shown_on_their_fields(configured: Bot) -> None:
    bot = configured
    await bot.say("create payments-api v1", user_id=DEV)
    view = await open_form(bot)
    assert await submit(bot, view, values("ghost-api", "v2")) == {
        "response_action": "errors",
        "errors": {ids.BLOCK_FORM_SERVICE: "There is no service ghost-api."},
    }
    answer = await submit(bot, view, values("payments-api", "v1"))
    assert answer == {
        "response_action": "errors",
        "errors": {ids.BLOCK_FORM_VERSION: "payments-api v1 already exists (R-1, created by @U0BOB00002)."},
    }
    assert await releases(bot) == [("v1", None, None)]


async def test_a_viewer_is_refused_on_the_form_and_the_refusal_is_audited(configured: Bot) -> None:
    bot = configured
    view = await open_form(bot, user_id=VIEWER)
    answer = await submit(bot, view, values("payments-api", "v1"), user_id=VIEWER)
    assert answer == {
        "response_action": "errors",
        "errors": {ids.BLOCK_FORM_SERVICE: "You can't create releases: your role is viewer."},
    }
    async with bot.runtime.uow() as work:
        last = (await work.session.execute(select(AuditRow).order_by(AuditRow.id.desc()).limit(1))).scalar_one()
        assert (last.action, last.actor) == ("permission.denied", VIEWER)
    assert await releases(bot) == []


async def test_a_valid_form_creates_the_release_and_answers_as_the_command_does(configured: Bot) -> None:
    bot = configured
    view = await open_form(bot)
    answer = await submit(
        bot, view, values("payments-api", "v1.4.2", commit="9F3C2AB", notes="Faster <!channel> refunds")
    )
    assert answer["response_action"] == "update"
    result = answer["view"]
    blockkit.assert_valid("modal", result)
    expected = "Created R-1: *payments-api* `v1.4.2` at `9f3c2ab`.\n>Faster &lt;!channel&gt; refunds"
    assert result["title"]["text"] == "Release created"
    assert [b["text"]["text"] for b in result["blocks"]] == [expected]
    (posted,) = await bot.fake.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == DEV)
    assert (posted.args["channel"], posted.args["text"]) == (CHANNEL, expected)
    assert await releases(bot) == [("v1.4.2", "9f3c2ab", "Faster <!channel> refunds")]
    async with bot.runtime.uow() as work:
        actions = await work.session.execute(select(func.count(AuditRow.id)).where(AuditRow.action == "release.create"))
        assert actions.scalar_one() == 1

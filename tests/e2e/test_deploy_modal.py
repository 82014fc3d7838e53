"""The deploy form: opened at once with the command's trigger, services as you type, versions once a service is
picked, inline errors, the preview, and a Confirm that requests exactly one deployment."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from handlers import forms, ids
from storage.rows import AuditRow, DeploymentRow, OutboxRow
from tests.e2e.conftest import DEV, SECRET, Bot
from tests.support import blockkit
from tests.support.form_requests import block_suggestion, external_option, select_state, view_action
from tests.support.slack_requests import FORM, signed_headers, slash_command, view_submission

CHANNEL = "C0PAYMENTS1"
CAROL = "U0CAROL003"


def as_dict(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


async def count(bot: Bot, column: object) -> int:
    async with bot.runtime.uow() as work:
        return int((await work.session.execute(select(func.count(column)))).scalar_one())


async def open_form(bot: Bot, *, user_id: str = DEV, trigger_id: str | None = None) -> dict[str, Any]:
    """``/release deploy`` alone; returns the form as Slack stores it once the environments are in."""
    trigger = trigger_id or f"{time.time_ns()}.deploy.trigger"
    body = slash_command("deploy", user_id=user_id, trigger_id=trigger, response_url=bot.fake.response_url(trigger))
    reply = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    assert (reply.status, reply.body) == (200, "")
    (opened,) = await bot.fake.wait_for("views.open", lambda c: c.args.get("trigger_id") == trigger)
    view_id = opened.response["view"]["id"]
    await bot.fake.wait_for("views.update", lambda c: c.args.get("view_id") == view_id)
    return bot.fake.view(view_id)


async def pick_service(bot: Bot, view: dict[str, Any], service: str, **state: Any) -> dict[str, Any]:
    before = len(bot.fake.calls_to("views.update"))
    body = view_action(
        ids.ACTION_FORM_SERVICE, view=view, user_id=DEV, selected=external_option(service), state_values=state
    )
    reply = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    assert reply.status == 200
    await bot.fake.wait_for("views.update", count=before + 1)
    return bot.fake.view(view["id"])


def form_values(service: str | None, version: str | None, environment: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        ids.BLOCK_FORM_SERVICE: {
            ids.ACTION_FORM_SERVICE: {
                "type": "external_select",
                "selected_option": external_option(service) if service else None,
            }
        },
        ids.BLOCK_FORM_ENVIRONMENT: {
            ids.ACTION_FORM_ENVIRONMENT: {
                "type": "static_select",
                "selected_option": external_option(environment) if environment else None,
            }
        },
    }
    if service:
        values[f"{ids.BLOCK_FORM_VERSION}:{service}"] = {
            ids.ACTION_FORM_VERSION: {
                "type": "static_select",
                "selected_option": external_option(version) if version else None,
            }
        }
    return values


async def submit(bot: Bot, view: dict[str, Any], values: dict[str, Any], *, user_id: str = DEV) -> dict[str, Any]:
    body = view_submission(
        ids.VIEW_DEPLOY_FORM, values, user_id=user_id, view=view, private_metadata=view["private_metadata"]
    )
    reply = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    assert reply.status == 200
    return as_dict(reply.body)


def shown_by_slack(bot: Bot, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """What Slack does with ``response_action: update``: the view replaces the form (same id, new hash)."""
    return bot.fake.workspace.save_view(view, surface="modal", view_id=view_id)


def texts(view_blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in view_blocks if b["type"] == "section"]


def options(view: dict[str, Any], block_prefix: str) -> list[str]:
    block = next(b for b in view["blocks"] if str(b.get("block_id", "")).startswith(block_prefix))
    return [o["text"]["text"] for o in block["element"]["options"]]


async def releases(bot: Bot) -> None:
    await bot.say("create payments-api v1 commit abc1234", user_id=DEV)
    await bot.say("create payments-api v2 commit def5678 notes Faster refunds", user_id=DEV)


async def test_deploy_alone_opens_the_form_with_the_commands_trigger_before_any_database_work(
    configured: Bot,
) -> None:
    bot = configured
    # The store stays shut until Slack has seen views.open: any database work before it would stall the form.
    form_open = asyncio.Event()
    bot.fake.on_call = lambda call: form_open.set() if call.method == "views.open" else None
    factory = bot.runtime.deps.uow

    @asynccontextmanager
    async def gated() -> AsyncIterator[Any]:
        await form_open.wait()
        async with factory() as work:
            yield work

    bot.runtime.deps.uow = gated  # type: ignore[assignment]
    trigger = "7001234599001.1234567890123.0123456789abcdef0123456789abcdef"
    view = await open_form(bot, trigger_id=trigger)
    bot.runtime.deps.uow = factory
    (opened,) = bot.fake.calls_to("views.open")
    assert opened.args["trigger_id"] == trigger
    first = as_dict(opened.args["view"])
    assert first["callback_id"] == ids.VIEW_DEPLOY_FORM
    assert [b.get("block_id") for b in first["blocks"]] == [
        ids.BLOCK_FORM_SERVICE,
        f"{ids.BLOCK_FORM_NOTE}:version",
        f"{ids.BLOCK_FORM_NOTE}:environment",
    ]
    (update,) = bot.fake.calls_to("views.update")
    assert update.args["hash"] == opened.response["view"]["hash"]
    assert options(view, ids.BLOCK_FORM_ENVIRONMENT) == ["staging", "production (production)"]
    service = view["blocks"][0]
    assert service["element"]["type"] == "external_select" and service["dispatch_action"] is True
    blockkit.assert_valid("modal", blockkit.view_as_request(view))


async def test_typing_in_the_service_picker_suggests_the_matching_services(configured: Bot) -> None:
    bot = configured
    await bot.say("service add search-api team payments channel <#C0PAYMENTS1|payments-releases>")
    await bot.say("service add api-gateway team payments channel <#C0PAYMENTS1|payments-releases>")
    view = await open_form(bot)

    async def suggest(typed: str) -> list[str]:
        body = block_suggestion(ids.ACTION_FORM_SERVICE, typed, view=view)
        reply = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
        assert reply.status == 200
        answer = as_dict(reply.body)
        assert all(o["text"]["text"] == o["value"] for o in answer["options"])
        return [o["value"] for o in answer["options"]]

    assert await suggest("pay") == ["payments-api"]
    assert await suggest("API") == ["api-gateway", "payments-api", "search-api"]
    assert await suggest("") == ["api-gateway", "payments-api", "search-api"]
    assert await suggest("<!channel>") == []


async def test_picking_a_service_lists_its_releases_newest_first_using_the_views_hash(configured: Bot) -> None:
    bot = configured
    await releases(bot)
    view = await open_form(bot)
    state = {ids.BLOCK_FORM_ENVIRONMENT: {ids.ACTION_FORM_ENVIRONMENT: select_state("static_select", "staging")}}
    updated = await pick_service(bot, view, "payments-api", **state)
    last = bot.fake.calls_to("views.update")[-1]
    assert (last.args["view_id"], last.args["hash"]) == (view["id"], view["hash"])
    assert options(updated, f"{ids.BLOCK_FORM_VERSION}:payments-api") == ["v2 (def5678)", "v1 (abc1234)"]
    environment = next(b for b in updated["blocks"] if b.get("block_id") == ids.BLOCK_FORM_ENVIRONMENT)
    assert environment["element"]["initial_option"]["value"] == "staging"
    assert updated["blocks"][0]["element"]["initial_option"]["value"] == "payments-api"
    blockkit.assert_valid("modal", blockkit.view_as_request(updated))


async def test_a_stale_service_pick_does_not_overwrite_a_newer_form(configured: Bot) -> None:
    bot = configured
    await releases(bot)
    view = await open_form(bot)
    await pick_service(bot, view, "payments-api")
    before = bot.fake.view(view["id"])
    stale = await pick_service(bot, view, "payments-api")  # still carries the first hash
    assert bot.fake.calls_to("views.update")[-1].response == {"ok": False, "error": "hash_conflict"}
    assert stale["hash"] == before["hash"]


async def test_missing_choices_are_shown_on_their_fields(configured: Bot) -> None:
    bot = configured
    await releases(bot)
    view = await open_form(bot)
    assert await submit(bot, view, form_values(None, None, None)) == {
        "response_action": "errors",
        "errors": {ids.BLOCK_FORM_SERVICE: "Pick a service.", ids.BLOCK_FORM_ENVIRONMENT: "Pick an environment."},
    }
    view = await pick_service(bot, view, "payments-api")
    assert await submit(bot, view, form_values("payments-api", None, "staging")) == {
        "response_action": "errors",
        "errors": {f"{ids.BLOCK_FORM_VERSION}:payments-api": "Pick a version."},
    }


async def test_an_unknown_combination_and_a_lock_are_shown_inline_and_nothing_is_stored(configured: Bot) -> None:
    bot = configured
    await releases(bot)
    await bot.say(f"user <@{CAROL}|carol> role developer")
    await bot.say("lock staging for 2h reason db migration", user_id=CAROL)
    audit_before = await count(bot, AuditRow.id)
    view = await pick_service(bot, await open_form(bot), "payments-api")
    assert await submit(bot, view, form_values("payments-api", "v9", "staging")) == {
        "response_action": "errors",
        "errors": {f"{ids.BLOCK_FORM_VERSION}:payments-api": "payments-api has no release v9."},
    }
    answer = await submit(bot, view, form_values("payments-api", "v2", "staging"))
    assert answer["response_action"] == "errors"
    (message,) = answer["errors"].values()
    assert list(answer["errors"]) == [ids.BLOCK_FORM_ENVIRONMENT]
    assert message.startswith("staging is locked by @U0CAROL003 until ") and message.endswith(": db migration.")
    assert await count(bot, DeploymentRow.id) == 0
    assert await count(bot, AuditRow.id) == audit_before


async def test_a_viewer_gets_the_refusal_in_the_form(configured: Bot) -> None:
    bot = configured
    viewer = "U0DAVE0004"
    view = await open_form(bot, user_id=viewer)
    assert texts(view["blocks"]) == [
        "You can't request deployments: your role is viewer.\nOnly admins, developers may do that; ask an admin "
        "(`/release user @you role <role>`) if you need it."
    ]
    assert "submit" not in view


async def test_submit_shows_the_preview_and_confirm_twice_requests_one_deployment(configured: Bot) -> None:
    bot = configured
    await releases(bot)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    await bot.settle()
    view = await pick_service(bot, await open_form(bot), "payments-api")
    answer = await submit(bot, view, form_values("payments-api", "v2", "staging"))
    assert answer["response_action"] == "update"
    preview = answer["view"]
    blockkit.assert_valid("modal", preview)
    assert preview["callback_id"] == ids.VIEW_DEPLOY_PREVIEW
    assert texts(preview["blocks"]) == [
        "*Dry run*: *payments-api* `v2` to *staging*. Nothing was stored.",
        "*Version*: `v1` → `v2`\n*Commits*: `abc1234` → `def5678`\n*Approvals*: none needed\n"
        "*Promotion order*: no earlier environment required",
        "*In the way*: nothing (no lock, freeze or other deployment)",
        ":white_check_mark: Allowed: it would deploy at once.",
    ]
    assert await count(bot, DeploymentRow.id) == 1
    shown = shown_by_slack(bot, view["id"], preview)
    for _ in range(2):  # a double click
        body = view_action(ids.ACTION_DEPLOY_CONFIRM, view=shown, user_id=DEV)
        assert (await bot.post(body, signed_headers(body, SECRET, content_type=FORM))).status == 200
    await bot.settle()
    assert await count(bot, DeploymentRow.id) == 2
    done = bot.fake.view(view["id"])
    assert done["title"]["text"] == "Deployment requested"
    assert texts(done["blocks"]) == [
        ":white_check_mark: D-2: *payments-api* `v2` to *staging* (was `v1`): success. Posted in <#C0PAYMENTS1>."
    ]
    (posted,) = await bot.fake.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == DEV)
    assert posted.args["channel"] == CHANNEL and posted.args["text"] == texts(done["blocks"])[0]
    assert len(bot.fake.calls_to("chat.postEphemeral")) == 1
    async with bot.runtime.uow() as work:
        clicks = (
            await work.session.execute(select(func.count(AuditRow.id)).where(AuditRow.action == "button.click"))
        ).scalar_one()
    assert clicks == 2


async def test_confirm_is_refused_when_a_lock_appeared_since_the_preview(configured: Bot) -> None:
    bot = configured
    await releases(bot)
    await bot.say(f"user <@{CAROL}|carol> role developer")
    view = await pick_service(bot, await open_form(bot), "payments-api")
    answer = await submit(bot, view, form_values("payments-api", "v2", "staging"))
    await bot.say("lock staging reason hotfix", user_id=CAROL)
    shown = shown_by_slack(bot, view["id"], answer["view"])
    body = view_action(ids.ACTION_DEPLOY_CONFIRM, view=shown, user_id=DEV)
    await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    await bot.runtime.deps.tasks.drain()
    done = bot.fake.view(view["id"])
    assert done["title"]["text"] == "Not requested"
    assert texts(done["blocks"])[0].startswith("staging is locked by <@U0CAROL003> until ")
    assert await count(bot, DeploymentRow.id) == 0
    assert await count(bot, OutboxRow.id) > 0  # the lock's own notices only


async def test_a_failure_after_the_form_opened_shows_an_error_id_in_the_form(
    configured: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(forms, "actor_of", broken)
    view = await open_form(configured)
    (text,) = texts(view["blocks"])
    assert text.startswith(":warning: Something went wrong on my side and nothing was changed. Error id `")
    assert "fire" not in text

"""``/release deploy ... --dry-run``: the preview as an ephemeral reply, nothing stored, and a Confirm button that
requests exactly one deployment however often it is pressed."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import func, select

from bot.console import run_shell
from bot.settings import load_settings
from handlers import ids
from storage.rows import AuditRow, DeploymentRow, OutboxRow
from tests.e2e.conftest import DEV, SECRET, Bot
from tests.support.slack_requests import FORM, block_actions, signed_headers

CHANNEL = "C0PAYMENTS1"


async def count(bot: Bot, column: object) -> int:
    async with bot.runtime.uow() as work:
        return int((await work.session.execute(select(func.count(column)))).scalar_one())


async def stored(bot: Bot) -> list[int]:
    return [await count(bot, column) for column in (DeploymentRow.id, OutboxRow.id, AuditRow.id)]


async def dry_run(bot: Bot, text: str) -> dict[str, Any]:
    _, answer = await bot.command(text, user_id=DEV)
    assert answer is not None
    return answer


async def press_confirm(bot: Bot, answer: dict[str, Any], key: str) -> None:
    (button,) = answer["blocks"][-1]["elements"]
    body = block_actions(
        ids.ACTION_DEPLOY_CONFIRM,
        button["value"],
        user_id=DEV,
        channel_id=CHANNEL,
        blocks=answer["blocks"],
        is_ephemeral=True,
        response_url=bot.fake.response_url(key),
    )
    reply = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    assert (reply.status, reply.body) == (200, "")


async def test_a_dry_run_answers_with_the_preview_and_stores_nothing(configured: Bot) -> None:
    bot = configured
    await bot.say("create payments-api v1 commit abc1234", user_id=DEV)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    await bot.say("create payments-api v2 commit def5678", user_id=DEV)
    await bot.settle()
    before = await stored(bot)
    answer = await dry_run(bot, "deploy payments-api v2 to staging --dry-run")
    assert answer["response_type"] == "ephemeral"
    assert [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"] == [
        "*Dry run*: *payments-api* `v2` to *staging*. Nothing was stored.",
        "*Version*: `v1` → `v2`\n*Commits*: `abc1234` → `def5678`\n*Approvals*: none needed\n"
        "*Promotion order*: no earlier environment required",
        "*In the way*: nothing (no lock, freeze or other deployment)",
        ":white_check_mark: Allowed: it would deploy at once.",
    ]
    assert answer["blocks"][-1]["elements"][0]["text"]["text"] == "Confirm"
    await bot.settle()
    assert await stored(bot) == before
    # Nothing stands in the way of the real request, typed or confirmed.
    assert (await bot.say("deploy payments-api v2 to staging", user_id=DEV)).startswith(":white_check_mark: D-2:")


async def test_confirm_pressed_twice_requests_one_deployment_and_replaces_the_preview(configured: Bot) -> None:
    bot = configured
    await bot.say("create payments-api v1 commit abc1234", user_id=DEV)
    answer = await dry_run(bot, "deploy payments-api v1 to production --dry-run")
    assert answer["text"].endswith(":white_check_mark: Allowed: it would deploy at once.")
    await press_confirm(bot, answer, "confirm-1")
    await press_confirm(bot, answer, "confirm-2")
    await bot.settle()
    assert await count(bot, DeploymentRow.id) == 1
    replies = [c for c in bot.fake.calls_to("response_url") if c.args.get("response_url_id", "").startswith("confirm")]
    assert len(replies) == 1
    assert replies[0].args["replace_original"] is True
    assert replies[0].args["text"] == (
        ":white_check_mark: D-1: *payments-api* `v1` to *production* (first deployment there): success. "
        "Posted in <#C0PAYMENTS1>."
    )


async def test_a_refused_dry_run_has_no_confirm_and_says_why(configured: Bot) -> None:
    bot = configured
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("policy production approvals 1 requires staging")
    answer = await dry_run(bot, "deploy payments-api v1 to production --dry-run")
    assert all(b["type"] != "actions" for b in answer["blocks"])
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    assert sections[-1] == ":no_entry: It would be refused now: 1 thing is in the way."
    assert sections[1].splitlines()[-1] == (
        "*Promotion order*: :no_entry: payments-api `v1` has not succeeded in staging yet, and production requires it."
    )


async def test_a_dry_run_of_something_unknown_says_what_to_type(configured: Bot) -> None:
    bot = configured
    answer = await dry_run(bot, "deploy payments-api v9 to staging --dry-run")
    assert answer["text"] == (
        "`payments-api` has no release `v9`.\nCreate it first: `/release create payments-api v9 commit <sha>`."
    )


async def test_the_console_answers_bare_deploy_and_create_with_the_commands_to_type_and_runs_dry_runs(
    database_url: str,
) -> None:
    script = (
        "/release create payments-api v1 commit abc1234\n"
        "/release deploy\n"
        "/release create\n"
        "/release deploy payments-api v1 to staging --dry-run\n"
    )
    out = io.StringIO()
    settings = load_settings(_env_file=None, database_url=database_url, admins="U0ALICE001")
    assert await run_shell(settings, as_user="alice", demo=True, out=out, lines=io.StringIO(script)) == 0
    text = out.getvalue()
    assert (
        "The form opens in Slack only. Here, type `/release deploy <service> <version> to <env> [--dry-run] "
        "[--override-freeze <reason>] [--override-bad <reason>]`." in text
    )
    assert "The form opens in Slack only. Here, type `/release create <service> <version> [commit <sha>]" in text
    assert "*Dry run*: *payments-api* `v1` to *staging*. Nothing was stored." in text
    assert "[Confirm: click deploy_confirm" in text

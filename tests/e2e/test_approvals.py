"""Protected deployments: the approval card in the service's channel, buttons, commands, exactly once."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from sqlalchemy import func, select

from handlers import ids, jobs
from storage.rows import ApprovalRow, AuditRow, DeploymentRow
from tests.e2e.conftest import ADMIN, DEV, Bot

CAROL = "U0CAROL003"
DAVE = "U0DAVE0004"
CHANNEL = "C0PAYMENTS1"


async def protected(bot: Bot, approvals: int = 2, extra: str = "") -> str:
    """Production needs approvals; bob requests v1 there; returns the card's ts."""
    await bot.say(f"user <@{CAROL}|carol> role developer")
    answer = await bot.say(f"policy production approvals {approvals} by developer admin{extra}")
    assert answer.startswith("*production*: "), answer
    await bot.say("create payments-api v1 commit abc1234 notes Faster refunds", user_id=DEV)
    answer = await bot.say("deploy payments-api v1 to production", user_id=DEV)
    assert answer.startswith(":hourglass_flowing_sand: D-1: *payments-api* `v1` to *production*"), answer
    posts = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == CHANNEL)
    return str(posts[0].response["ts"])


async def card_text(bot: Bot, ts: str) -> str:
    return json.dumps(bot.fake.message(CHANNEL, ts)["blocks"])


async def table_count(bot: Bot, column: object) -> int:
    async with bot.runtime.uow() as work:
        return int((await work.session.execute(select(func.count(column)))).scalar_one())


async def test_card_shows_requester_versions_approvers_and_buttons_with_confirm(configured: Bot) -> None:
    ts = await protected(configured)
    message = configured.fake.message(CHANNEL, ts)
    text = json.dumps(message["blocks"])
    assert "Requested by*\\n<@U0BOB00002>" in text
    assert "nothing yet \\u2192 `v1`" in text
    assert "`abc1234`" in text and "Faster refunds" in text
    assert "0 given, 2 still needed" in text
    assert "developers, admins" in text
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [ids.ACTION_APPROVE, ids.ACTION_REJECT]
    assert all("confirm" in e for e in actions["elements"])


async def test_requester_cannot_approve_their_own_deployment(configured: Bot) -> None:
    ts = await protected(configured)
    _, key = await configured.click(ids.ACTION_APPROVE, "D-1", user_id=DEV, channel=CHANNEL, ts=ts)
    assert (await configured.ephemeral(key)).startswith("You requested D-1, so you can't approve it yourself.")
    assert await table_count(configured, ApprovalRow.id) == 0
    async with configured.runtime.uow() as work:
        last = (await work.session.execute(select(AuditRow).order_by(AuditRow.id.desc()).limit(1))).scalar_one()
        assert (last.action, last.actor) == ("permission.denied", DEV)


async def test_two_approvals_update_the_card_in_place_and_start_the_deployment(configured: Bot) -> None:
    bot = configured
    ts = await protected(bot)
    _, key = await bot.click(ids.ACTION_APPROVE, "D-1", user_id=CAROL, channel=CHANNEL, ts=ts)
    assert await bot.ephemeral(key) == (
        "You approved D-1 (payments-api `v1` → production); 1 approval(s) still needed."
    )
    await bot.settle()
    assert "1 given, 1 still needed" in await card_text(bot, ts)
    answer = await bot.say("approve D-1")
    assert answer == "You approved D-1 (payments-api `v1` → production); it is now deployed."
    await bot.settle()
    card = bot.fake.message(CHANNEL, ts)
    assert not any(b["type"] == "actions" for b in card["blocks"])
    assert "D-1* payments-api `v1` \\u2192 *production*: deployed" in json.dumps(card["blocks"])
    updates = [c for c in bot.fake.calls_to("chat.update") if c.args.get("ts") == ts]
    assert len(updates) == 2
    dm = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == DEV)
    assert (
        dm[0].args["text"].startswith("Your deployment D-1 of payments-api `v1` to *production*: approved and deployed")
    )
    async with bot.runtime.uow() as work:
        deployment = await work.deployments.get(1)
        assert deployment is not None and deployment.status.value == "success"


async def test_a_double_click_records_one_approval_and_one_card_update(configured: Bot) -> None:
    bot = configured
    ts = await protected(bot)
    await bot.settle()
    _, key1 = await bot.click(ids.ACTION_APPROVE, "D-1", user_id=CAROL, channel=CHANNEL, ts=ts)
    _, key2 = await bot.click(ids.ACTION_APPROVE, "D-1", user_id=CAROL, channel=CHANNEL, ts=ts)
    answers = sorted([await bot.ephemeral(key1), await bot.ephemeral(key2)])
    assert answers == [
        "You already approved D-1.",
        "You approved D-1 (payments-api `v1` → production); 1 approval(s) still needed.",
    ]
    await bot.settle()
    assert await table_count(bot, ApprovalRow.id) == 1
    assert len([c for c in bot.fake.calls_to("chat.update") if c.args.get("ts") == ts]) == 1


async def test_reject_asks_for_a_reason_in_a_modal_and_vetoes(configured: Bot) -> None:
    bot = configured
    ts = await protected(bot)
    await bot.click(ids.ACTION_REJECT, "D-1", user_id=CAROL, channel=CHANNEL, ts=ts)
    opened = await bot.fake.wait_for("views.open")
    view = opened[0].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == ids.VIEW_REJECT and view["private_metadata"] == "D-1"
    empty = await bot.submit(
        ids.VIEW_REJECT, {ids.BLOCK_REASON: "   "}, user_id=CAROL, view=view, private_metadata="D-1"
    )
    assert json.loads(empty.body) == {
        "response_action": "errors",
        "errors": {"reason": "Say why you are rejecting it."},
    }
    done = await bot.submit(
        ids.VIEW_REJECT,
        {ids.BLOCK_REASON: "Breaks <!channel> refunds"},
        user_id=CAROL,
        view=view,
        private_metadata="D-1",
    )
    assert (done.status, done.body) == (200, "")
    await bot.settle()
    card = await card_text(bot, ts)
    assert "rejected" in card and "Breaks &lt;!channel&gt; refunds" in card and '"actions"' not in card
    dm = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == DEV)
    assert "rejected by <@U0CAROL003>" in dm[0].args["text"]


async def test_reject_by_command_needs_a_reason(configured: Bot) -> None:
    await protected(configured)
    answer = await configured.say("reject D-1", user_id=CAROL)
    assert answer.startswith("Missing the reason (a rejection always says why).")


async def test_someone_not_allowed_gets_an_explanation_and_nothing_changes(configured: Bot) -> None:
    bot = configured
    ts = await protected(bot)
    _, key = await bot.click(ids.ACTION_APPROVE, "D-1", user_id=DAVE, channel=CHANNEL, ts=ts)
    assert (await bot.ephemeral(key)).startswith("You can't approve deployments: your role is viewer.")
    assert await table_count(bot, ApprovalRow.id) == 0


async def test_approvals_expire_and_the_card_says_so(configured: Bot) -> None:
    bot = configured
    ts = await protected(bot)
    later = bot.runtime.clock() + timedelta(hours=25)
    deps = dataclasses.replace(bot.runtime.deps, clock=lambda: later)
    assert await jobs.expire_approvals(deps) == 1
    assert await jobs.expire_approvals(deps) == 0
    await bot.settle()
    card = await card_text(bot, ts)
    assert "expired" in card and '"actions"' not in card
    answer = await bot.say("approve D-1", user_id=CAROL)
    assert answer.startswith("D-1 is not waiting for approval: it is expired.")


async def test_promotion_order_refuses_skipping_staging(configured: Bot) -> None:
    bot = configured
    await bot.say("policy production approvals 0 requires staging")
    await bot.say("create payments-api v1", user_id=DEV)
    answer = await bot.say("deploy payments-api v1 to production", user_id=DEV)
    assert answer == (
        "payments-api `v1` has not succeeded in staging yet, and production requires it.\n"
        "Deploy it there first: `/release deploy payments-api v1 to staging`."
    )
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    answer = await bot.say("deploy payments-api v1 to production", user_id=DEV)
    assert "success" in answer
    assert await table_count(bot, DeploymentRow.id) == 2


async def test_second_request_names_the_active_deployment(configured: Bot) -> None:
    bot = configured
    await protected(bot)
    answer = await bot.say("deploy payments-api v1 to production", user_id=ADMIN)
    assert answer.startswith(
        "payments-api already has an active deployment to production: D-1 (payments-api `v1`, requested by "
        "<@U0BOB00002>, pending approval)."
    )


async def test_pending_lists_what_waits_for_the_caller(configured: Bot) -> None:
    bot = configured
    await protected(bot)
    assert (await bot.say("pending", user_id=DEV)) == "Nothing is waiting for your approval."
    assert "*D-1* payments-api `v1` → *production*" in await bot.say("pending", user_id=CAROL)


async def test_self_approval_when_allowed_is_recorded_as_a_bypass(configured: Bot) -> None:
    bot = configured
    await protected(bot, approvals=1, extra=" self-approval on")
    answer = await bot.say("approve D-1", user_id=DEV)
    assert answer.endswith("it is now deployed.")
    async with bot.runtime.uow() as work:
        actions = [r.action for r in (await work.session.execute(select(AuditRow))).scalars()]
    assert "bypass.self_approval" in actions


async def test_a_freeze_override_needs_a_second_admin_and_is_a_bypass(configured: Bot) -> None:
    bot = configured
    second_admin = "U0ERIN0005"
    await bot.say(f"user <@{second_admin}|erin> role admin")
    await bot.say(f"user <@{CAROL}|carol> role developer")
    await bot.say('freeze production for 2h reason "quarter close"')
    await bot.say("create payments-api v1", user_id=DEV)
    refused = await bot.say("deploy payments-api v1 to production", user_id=DEV)
    assert refused.startswith("production is frozen until ") and "quarter close" in refused
    not_admin = await bot.say("deploy payments-api v1 to production --override-freeze hotfix", user_id=DEV)
    assert not_admin.startswith("Only admins may override a freeze.")
    answer = await bot.say("deploy payments-api v1 to production --override-freeze refunds are failing")
    assert "pending approval" in answer
    posts = await bot.fake.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == CHANNEL and "D-1" in json.dumps(c.args.get("blocks"))
    )
    card = json.dumps(posts[-1].args["blocks"])
    assert "one from a second admin, for the freeze override" in card and "refunds are failing" in card
    own = await bot.say("approve D-1")
    assert own.startswith("You requested D-1, so you can't approve it yourself.")
    developer = await bot.say("approve D-1", user_id=CAROL)
    assert developer.endswith("1 approval(s) still needed.")
    done = await bot.say("approve D-1", user_id=second_admin)
    assert done.endswith("it is now deployed.")
    async with bot.runtime.uow() as work:
        actions = [r.action for r in (await work.session.execute(select(AuditRow))).scalars()]
    assert "bypass.freeze" in actions

"""Notification preferences end to end: what a service's channel receives, which direct messages people get."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import select

from core.model import Role, StageSpec
from handlers import ids
from storage.rows import AuditRow, OutboxRow
from tests.e2e.conftest import ADMIN, DEV, Bot

CAROL = "U0CAROL003"
CHANNEL = "C0PAYMENTS1"
SCRIPT = str(Path(__file__).resolve().parents[1] / "support" / "stage_script.py")


async def bob_in_payments(bot: Bot) -> None:
    async with bot.runtime.uow() as work:
        await work.users.set_role(DEV, Role.DEVELOPER, now=bot.runtime.clock(), team="payments")
        await work.commit()
    await bot.say(f"user <@{CAROL}|carol> role developer")


def channel_posts(bot: Bot) -> list[str]:
    return [str(c.args["text"]) for c in bot.fake.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL]


def direct_messages(bot: Bot, user: str) -> list[str]:
    return [str(c.args["text"]) for c in bot.fake.calls_to("chat.postMessage") if c.args.get("channel") == user]


async def withheld(bot: Bot) -> list[tuple[str, str, str | None]]:
    async with bot.runtime.uow() as work:
        query = select(OutboxRow.kind, OutboxRow.channel, OutboxRow.last_error).where(OutboxRow.status == "withheld")
        return [tuple(row) for row in (await work.session.execute(query.order_by(OutboxRow.id))).all()]  # type: ignore[misc]


async def test_notify_shows_the_direct_messages_and_the_team_channels(configured: Bot) -> None:
    bot = configured
    await bob_in_payments(bot)
    assert await bot.say("notify", user_id=DEV) == (
        "*Your notifications*\n"
        "Direct messages: how your deployments ended: *on* (`deploy-finished`); each deployment you are asked to "
        "approve: *off* (`approval-requests`).\n"
        "Channels of team payments:\n"
        "• *payments-api* in <#C0PAYMENTS1>: `everything` (every post)\n"
        "Change them: `/release notify me deploy-finished|approval-requests on|off`, "
        "`/release notify service <service> everything|approvals-and-failures|digest-only`."
    )


async def test_a_developer_of_the_team_sets_the_level_and_it_is_audited(configured: Bot) -> None:
    bot = configured
    await bob_in_payments(bot)
    answer = await bot.say("notify service payments-api approvals-and-failures", user_id=DEV)
    assert answer == (
        ":bell: *payments-api* in <#C0PAYMENTS1> now posts approval cards, failures and incidents "
        "(`approvals-and-failures`, was `everything`)."
    )
    refused = await bot.say("notify service payments-api digest-only", user_id=CAROL)
    assert refused.startswith(
        "You can't change what payments-api's channel receives: only admins and developers of team payments may."
    )
    async with bot.runtime.uow() as work:
        service = await work.services.get("payments-api")
        rows = (await work.session.execute(select(AuditRow.action, AuditRow.actor, AuditRow.details))).all()
    assert service is not None and service.notify_level is not None
    assert service.notify_level.value == "approvals-and-failures"
    assert ("notify.service", DEV, {"level": "approvals-and-failures", "before": "everything"}) in [
        tuple(row) for row in rows
    ]
    assert ("permission.denied", CAROL) in [(action, actor) for action, actor, _ in rows]


async def test_bad_notify_input_says_what_to_type(configured: Bot) -> None:
    bot = configured
    answer = await bot.say("notify service payments-api loud")
    assert answer.startswith(
        "`loud` is not a notification level: use `everything`, `approvals-and-failures`, `digest-only`."
    )
    assert "Usage: `/release notify service <service> everything|approvals-and-failures|digest-only`" in answer
    answer = await bot.say("notify me everything on")
    assert answer.startswith(
        "`everything` is not a direct message you can choose: use `deploy-finished`, `approval-requests`."
    )
    answer = await bot.say("notify service no-such-service digest-only")
    assert answer.startswith("There is no service `no-such-service`")


async def test_approvals_and_failures_posts_the_approval_card_but_not_successes(configured: Bot) -> None:
    bot = configured
    await bot.say("notify service payments-api approvals-and-failures")
    await bot.say("policy production approvals 1 by developer admin")
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await bot.settle()
    assert channel_posts(bot) == ["D-2: payments-api v1 to production: waiting for approval"]
    await bot.say("approve D-2")
    await bot.settle()
    updates = [c for c in bot.fake.calls_to("chat.update") if c.args.get("channel") == CHANNEL]
    assert [c.args["text"] for c in updates] == ["D-2: payments-api v1 to production: deployed"]
    assert await withheld(bot) == [
        (ids.DEPLOYMENT_STATUS, CHANNEL, "channel notifications: approvals-and-failures"),
    ]


async def test_approvals_and_failures_posts_a_failure_with_the_failing_stage_output_only(configured: Bot) -> None:
    bot = configured
    async with bot.runtime.uow() as work:
        env = await work.environments.get("staging")
        assert env is not None
        env.stages = [
            StageSpec(name="build", command=[sys.executable, SCRIPT, "--lines", "1"]),
            StageSpec(name="deploy", command=[sys.executable, SCRIPT, "--lines", "1", "--exit", "3"]),
        ]
        await work.environments.upsert(env, now=bot.runtime.clock())
        await work.commit()
    await bot.say("notify service payments-api approvals-and-failures")
    await bot.say("create payments-api v2", user_id=DEV)
    await bot.say("deploy payments-api v2 to staging", user_id=DEV)
    await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == DEV, timeout=20)
    await bot.settle()
    posts = [c for c in bot.fake.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL]
    assert [c.args["text"] for c in posts] == ["D-1: payments-api v2 to staging: failed", "D-1 deploy output"]
    assert posts[1].args["thread_ts"] == posts[0].response["ts"]
    kinds = [kind for kind, _, _ in await withheld(bot)]
    assert ids.STAGE_OUTPUT in kinds and ids.DEPLOYMENT_STATUS in kinds  # build's output, the running card


async def test_digest_only_posts_not_even_the_approval_card(configured: Bot) -> None:
    bot = configured
    await bot.say("notify service payments-api digest-only")
    await bot.say("policy production approvals 1 by developer admin")
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await bot.say("lock staging reason maintenance")
    await bot.settle()
    assert channel_posts(bot) == []
    kinds = [kind for kind, _, _ in await withheld(bot)]
    assert kinds == [ids.DEPLOYMENT_STATUS, ids.LOCK_NOTICE]


async def test_deploy_finished_off_drops_the_outcome_message(configured: Bot) -> None:
    bot = configured
    assert await bot.say("notify me deploy-finished off", user_id=DEV) == (
        ":no_bell: Direct messages for how your deployments ended are now *off*."
    )
    await bot.say("policy production approvals 1 by developer admin")
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await bot.say("approve D-1")
    await bot.settle()
    assert direct_messages(bot, DEV) == []
    assert await withheld(bot) == [(ids.DEPLOYMENT_OUTCOME, DEV, "deploy-finished turned off")]
    async with bot.runtime.uow() as work:
        bob = await work.users.get(DEV)
        entries = (await work.session.execute(select(AuditRow.action, AuditRow.details))).all()
    assert bob is not None and bob.notify_prefs == {"deploy-finished": False}
    assert ("notify.me", {"preference": "deploy-finished", "on": False}) in [tuple(e) for e in entries]


async def test_approval_requests_on_sends_the_approver_a_message_whose_buttons_approve(configured: Bot) -> None:
    bot = configured
    await bot.say(f"user <@{CAROL}|carol> role developer")
    assert await bot.say("notify me approval-requests on", user_id=CAROL) == (
        ":bell: Direct messages for each deployment you are asked to approve are now *on*."
    )
    await bot.say("notify me approval-requests on", user_id=DEV)  # the requester is never asked
    await bot.say("policy production approvals 1 by developer admin")
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await bot.settle()
    (request,) = [c for c in bot.fake.calls_to("chat.postMessage") if c.args.get("channel") == CAROL]
    assert request.args["text"] == (
        "You are asked to approve D-1: payments-api `v1` to *production*, requested by <@U0BOB00002>."
    )
    assert direct_messages(bot, DEV) == [] and direct_messages(bot, ADMIN) == []
    dm = str(request.response["channel"])
    _, key = await bot.click(ids.ACTION_APPROVE, "D-1", user_id=CAROL, channel=dm, ts=str(request.response["ts"]))
    assert await bot.ephemeral(key) == "You approved D-1 (payments-api `v1` → production); it is now deployed."
    async with bot.runtime.uow() as work:
        deployment = await work.deployments.get(1)
    assert deployment is not None and deployment.status.value == "success"

"""/release where through signed commands and the real app: what runs in each environment, and every reason
the caller may not deploy there now."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.text import clock_time, slack_date
from storage.rows import DeploymentRow, FreezeRow, LockRow
from tests.e2e.conftest import ADMIN, DEV, Bot

CAROL = "U0CAROL003"
DAVE = "U0DAVE0004"  # unknown to the bot: a viewer
PRODUCTION_POLICY = (
    "Approvals: 1 approval(s) by any admin or developer, expiring after 24 h; self-approval not allowed; "
    "the version must have succeeded in staging first"
)


async def only(bot: Bot, row: Any) -> Any:
    async with bot.runtime.uow() as work:
        [found] = list((await work.session.execute(select(row).order_by(row.id).limit(1))).scalars())
        work.session.expunge_all()
    return found


async def test_where_gives_every_reason_the_caller_may_not_deploy(configured: Bot) -> None:
    bot = configured
    await bot.say(f"user <@{CAROL}|carol> role developer")
    await bot.say("policy production approvals 1 requires staging")
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)  # D-1
    await bot.say("deploy payments-api v1 to production", user_id=DEV)  # D-2, waits for an approval
    await bot.say("create payments-api v2", user_id=DEV)  # the latest release, not yet in staging
    await bot.say("lock staging for 2h reason load test <!channel>", user_id=CAROL)
    await bot.say("freeze production for 3h reason Black Friday")

    deployed = await only(bot, DeploymentRow)
    lock = await only(bot, LockRow)
    freeze = await only(bot, FreezeRow)
    since = f"`v1` since {slack_date(deployed.finished_at)} (D-1)"
    locked = (
        f"• staging is locked by <@{CAROL}> until {clock_time(lock.expires_at, lock.created_at)}: "
        "load test &lt;!channel&gt;."
    )
    frozen = f"• production is frozen until {clock_time(freeze.ends_at, freeze.starts_at)}: Black Friday."
    promotion = "• payments-api `v2` has not succeeded in staging yet, and production requires it."
    active = f"• A deployment is in progress there: D-2 (payments-api `v1`, requested by <@{DEV}>, pending approval)."
    heading = "*Where payments-api stands* (latest release `v2`, R-2)"

    assert await bot.say("where payments-api", user_id=DEV) == "\n".join(
        [
            heading,
            f"*staging*: {since}",
            ":no_entry: You may not deploy here now:",
            locked,
            "Approvals: no approval needed (you may approve).",
            "*production*: nothing deployed yet",
            ":no_entry: You may not deploy here now:",
            frozen,
            promotion,
            active,
            f"{PRODUCTION_POLICY} (you may approve).",
        ]
    )

    role = "• You can't request deployments: your role is viewer. Only admins and developers may."
    assert await bot.say("where payments-api", user_id=DAVE) == "\n".join(
        [
            heading,
            f"*staging*: {since}",
            ":no_entry: You may not deploy here now:",
            role,
            locked,
            "Approvals: no approval needed (you may not approve).",
            "*production*: nothing deployed yet",
            ":no_entry: You may not deploy here now:",
            role,
            frozen,
            promotion,
            active,
            f"{PRODUCTION_POLICY} (you may not approve).",
        ]
    )

    as_admin = await bot.say("where payments-api", user_id=ADMIN)
    assert f"{frozen[:-1]}. You may override it: `--override-freeze <reason>`.\n{promotion}" in as_admin

    as_owner = await bot.say("where payments-api", user_id=CAROL)
    assert as_owner.startswith(f"{heading}\n*staging*: {since}\n:white_check_mark: You may deploy here now.\n")


async def test_where_says_yes_when_nothing_stands_in_the_way(configured: Bot) -> None:
    bot = configured
    assert await bot.say("where payments-api", user_id=DEV) == "\n".join(
        [
            "*Where payments-api stands* (no release yet)",
            "*staging*: nothing deployed yet",
            ":white_check_mark: You may deploy here now.",
            "Approvals: no approval needed (you may approve).",
            "*production*: nothing deployed yet",
            ":white_check_mark: You may deploy here now.",
            "Approvals: no approval needed (you may approve).",
        ]
    )
    assert await bot.say("where billing", user_id=DEV) == (
        "There is no service `billing`.\nKnown services: `payments-api`. An admin adds one with "
        "`/release service add <name> team <team> channel #channel`."
    )

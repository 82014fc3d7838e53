"""/release history through signed commands and the real app: the exact text the caller reads."""

from __future__ import annotations

from sqlalchemy import select

from core.text import slack_date
from storage.rows import DeploymentRow
from tests.e2e.conftest import ADMIN, DEV, Bot

CAROL = "U0CAROL003"
DAVE = "U0DAVE0004"  # unknown to the bot: a viewer


async def deployments(bot: Bot) -> dict[int, DeploymentRow]:
    async with bot.runtime.uow() as work:
        found = {row.id: row for row in (await work.session.execute(select(DeploymentRow))).scalars()}
        work.session.expunge_all()
    return found


async def test_history_lists_deployments_and_rollbacks_newest_first_and_the_chain_of_an_environment(
    configured: Bot,
) -> None:
    bot = configured
    await bot.say(f"user <@{CAROL}|carol> role developer")
    await bot.say("policy production approvals 1")
    for version in ("v1", "v2", "v3"):
        await bot.say(f"create payments-api {version}", user_id=DEV)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)  # D-1
    await bot.say("deploy payments-api v2 to staging", user_id=DEV)  # D-2
    rolled = await bot.say("rollback payments-api staging reason smoke tests <!here> failed --no-lock", user_id=DEV)
    assert rolled.startswith(":rewind: D-3 rolls back *payments-api* in *staging* from `v2` (D-2) to `v1`"), rolled
    await bot.say("deploy payments-api v3 to staging", user_id=DEV)  # D-4
    await bot.say("deploy payments-api v3 to production", user_id=DEV)  # D-5, waits for an approval
    await bot.say("approve D-5", user_id=CAROL)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)  # D-6, waits
    await bot.say("reject D-6 not today", user_id=ADMIN)

    d = await deployments(bot)
    assert [d[n].status for n in sorted(d)] == [
        "success",
        "rolled_back",
        "success",
        "success",
        "success",
        "rejected",
    ]

    def when(n: int) -> str:
        return slack_date(d[n].requested_at)

    everything = await bot.say("history payments-api", user_id=DAVE)
    assert everything == "\n".join(
        [
            "*History of payments-api*: the 6 newest deployments",
            f"• *D-6* `v1` to *production*: :no_entry: rejected (not today) · by <@{DEV}> · {when(6)}",
            f"• *D-5* `v3` to *production*: :white_check_mark: success · took under 1s · by <@{DEV}> · "
            f"approved by <@{CAROL}> · {when(5)}",
            f"• *D-4* `v3` to *staging*: :white_check_mark: success · took under 1s · by <@{DEV}> · {when(4)}",
            "• *D-3* :rewind: rollback of D-2 (`v2`) to `v1` in *staging*: :white_check_mark: success · "
            f"took under 1s · by <@{DEV}> · {when(3)}",
            f"• *D-2* `v2` to *staging*: :rewind: rolled back by D-3 · took under 1s · by <@{DEV}> · {when(2)}",
            f"• *D-1* `v1` to *staging*: :white_check_mark: success · took under 1s · by <@{DEV}> · {when(1)}",
        ]
    )

    staging = await bot.say("history payments-api staging limit 2", user_id=DAVE)
    assert d[4].finished_at is not None and d[3].finished_at is not None
    assert staging == "\n".join(
        [
            "*History of payments-api* in *staging*: the 2 newest deployments",
            f"• *D-4* `v3` to *staging*: :white_check_mark: success · took under 1s · by <@{DEV}> · {when(4)}",
            "• *D-3* :rewind: rollback of D-2 (`v2`) to `v1` in *staging*: :white_check_mark: success · "
            f"took under 1s · by <@{DEV}> · {when(3)}",
            "*Releases live in staging*, newest first",
            f"• `v3` live since {slack_date(d[4].finished_at)} (D-4), after `v1` (D-3)",
            f"• `v1` live since {slack_date(d[3].finished_at)} (D-3, a rollback), nothing else succeeded there before",
        ]
    )


async def test_history_refuses_unknown_names_and_bad_limits_clearly(configured: Bot) -> None:
    bot = configured
    assert await bot.say("history payments-api staging") == "*payments-api* has no deployments to *staging* yet."
    assert await bot.say("history billing") == (
        "There is no service `billing`.\nKnown services: `payments-api`. An admin adds one with "
        "`/release service add <name> team <team> channel #channel`."
    )
    unknown_env = await bot.say("history payments-api qa")
    assert unknown_env.startswith("There is no environment `qa`.\nEnvironments: "), unknown_env
    assert await bot.say("history payments-api limit 500") == (
        "A limit of 500 is out of range: give a whole number from 1 to 100.\n"
        "Usage: `/release history <service> [<env>] [limit <n>]`"
    )
    assert await bot.say("history payments-api staging limit <!channel>") == (
        "`&lt;!channel&gt;` is not a limit: give a whole number from 1 to 100.\n"
        "Usage: `/release history <service> [<env>] [limit <n>]`"
    )

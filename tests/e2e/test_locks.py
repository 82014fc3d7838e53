"""Locks and freezes through signed /release commands, the real app and the recording fake Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from core.text import clock_time
from handlers.blocks import slack_time
from storage.rows import AuditRow, FreezeRow, LockRow, ProcessedRequestRow
from tests.e2e.conftest import ADMIN, DEV, Bot

CAROL = "U0CAROL003"
TEAM_CHANNEL = "C0PAYMENTS1"


async def rows(bot: Bot, row: Any, *where: Any) -> list[Any]:
    async with bot.runtime.uow() as work:
        found = list((await work.session.execute(select(row).where(*where).order_by(row.id))).scalars())
        work.session.expunge_all()
    return found


async def count(bot: Bot, column: Any) -> int:
    async with bot.runtime.uow() as work:
        return int((await work.session.execute(select(func.count(column)))).scalar_one())


async def posted(bot: Bot, channel: str, starts: str) -> str:
    calls = await bot.fake.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("channel") == channel and str(c.args.get("text", "")).startswith(starts),
    )
    return str(calls[0].args["text"])


def minute(offset: timedelta) -> str:
    """A time the freeze commands accept, ``offset`` from now, in UTC."""
    return (datetime.now(UTC) + offset).strftime("%Y-%m-%dT%H:%M")


async def test_a_lock_is_announced_a_second_one_refused_and_locks_lists_it(configured: Bot) -> None:
    bot = configured
    answer = await bot.say("lock staging payments-api for 2h reason ledger <!channel> migration", user_id=DEV)
    [lock] = await rows(bot, LockRow)
    assert lock.expires_at is not None and lock.owner == DEV
    until = slack_time(lock.expires_at)
    assert answer == (
        f":lock: L-1: *payments-api* in *staging* is locked for you until {until}; "
        "`/release unlock staging payments-api` releases it sooner.\n>ledger &lt;!channel&gt; migration"
    )
    notice = await posted(bot, TEAM_CHANNEL, ":lock:")
    assert (
        notice == f":lock: <@{DEV}> locked *payments-api* in *staging* until {until}: ledger &lt;!channel&gt; migration"
    )

    refused = await bot.say("lock staging payments-api for 30m")
    held = clock_time(lock.expires_at, lock.created_at)
    assert refused == (
        f"*payments-api* in *staging* is already locked by <@{DEV}> until {held}: ledger &lt;!channel&gt; migration "
        f"(L-1).\nAsk <@{DEV}> to unlock it, or wait until it ends. An admin can break it: "
        "`/release unlock staging payments-api --force reason <text>`."
    )
    assert len(await rows(bot, LockRow)) == 1

    listing = await bot.say("locks", user_id="U0DAVE0004")  # a viewer may look
    assert listing == (
        f"*Locks held now*\n• L-1 *payments-api* in *staging*: <@{DEV}> until {until}: ledger &lt;!channel&gt; migration"
    )


async def test_the_owner_unlocks_and_the_team_channel_is_told(configured: Bot) -> None:
    bot = configured
    assert await bot.say("locks") == "Nothing is locked."
    answer = await bot.say("lock staging", user_id=DEV)
    assert answer == ":lock: L-1: *staging* is locked for you until you unlock it: `/release unlock staging`."
    assert await bot.say("unlock staging", user_id=DEV) == ":unlock: *staging* is unlocked (L-1)."
    assert await posted(bot, TEAM_CHANNEL, ":unlock:") == f":unlock: <@{DEV}> unlocked *staging*."
    [lock] = await rows(bot, LockRow)
    assert lock.released_by == DEV and lock.released_at is not None
    assert await bot.say("unlock staging", user_id=DEV) == (
        "*staging* is not locked.\n`/release locks` lists the locks held now."
    )


async def test_only_an_admin_breaks_someone_elses_lock_with_a_reason_announced_and_audited(configured: Bot) -> None:
    bot = configured
    await bot.say(f"user <@{CAROL}|carol> role developer")
    await bot.say("lock staging reason load test", user_id=DEV)

    refused = await bot.say("unlock staging", user_id=CAROL)
    assert refused == (
        f"*staging* is locked by <@{DEV}> until unlocked: load test: only <@{DEV}> or an admin can unlock it.\n"
        f"Ask <@{DEV}> to unlock it, or wait until it ends."
    )
    assert await bot.say("unlock staging") == (
        f"*staging* is locked by <@{DEV}> until unlocked: load test: the lock is not yours.\n"
        "To break it, say why: `/release unlock staging --force reason <text>`. The owner and the channel are told."
    )
    [lock] = await rows(bot, LockRow)
    assert lock.released_at is None

    answer = await bot.say("unlock staging --force reason hotfix for <!here>")
    assert answer == (
        f":unlock: You broke <@{DEV}>'s lock on *staging* (L-1). They and the channel are told; "
        "the audit log keeps your reason."
    )
    announced = await posted(bot, TEAM_CHANNEL, ":warning:")
    assert announced == f":warning: <@{ADMIN}> broke <@{DEV}>'s lock on *staging*: hotfix for &lt;!here&gt;"
    direct = await posted(bot, DEV, ":warning:")
    assert direct == f":warning: <@{ADMIN}> broke your lock on *staging*: hotfix for &lt;!here&gt;"
    [lock] = await rows(bot, LockRow)
    assert lock.released_by == ADMIN
    [audit] = await rows(bot, AuditRow, AuditRow.action == "lock.break")
    assert (audit.actor, audit.target, audit.details["bypass"], audit.details["reason"]) == (
        ADMIN,
        "L-1",
        "lock",
        "hotfix for <!here>",
    )
    denials = await rows(bot, AuditRow, AuditRow.action == "permission.denied")
    assert [d.actor for d in denials] == [CAROL]


async def test_an_admin_freezes_lists_and_unfreezes_an_environment(configured: Bot) -> None:
    bot = configured
    until = minute(timedelta(hours=2))
    answer = await bot.say(f"freeze production from now until {until} reason release train")
    [freeze] = await rows(bot, FreezeRow)
    assert freeze.ends_at == datetime.fromisoformat(until).replace(tzinfo=UTC)
    ends = slack_time(freeze.ends_at)
    assert answer == (
        f":snowflake: F-1: *production* is frozen from now until {ends}. `/release unfreeze F-1` lifts it."
        "\n>release train"
    )
    notice = await posted(bot, TEAM_CHANNEL, ":snowflake:")
    assert notice == (
        f":snowflake: <@{ADMIN}> froze *production* from {slack_time(freeze.starts_at)} until {ends} (F-1): "
        "release train"
    )

    start = minute(timedelta(days=1))
    await bot.say(f"freeze staging from {start.replace('T', ' ')} until {minute(timedelta(days=2))}")
    [_, later] = await rows(bot, FreezeRow)
    listing = await bot.say("freezes", user_id=DEV)
    assert listing == (
        "*Freezes, now and coming up*\n"
        f"• F-1 *production*: now until {ends}: release train\n"
        f"• F-2 *staging*: from {slack_time(later.starts_at)} until {slack_time(later.ends_at)}"
    )

    assert await bot.say("unfreeze F-1", user_id=DEV) == (
        "You can't freeze environments: your role is developer.\n"
        "Only admins may do that; ask an admin (`/release user @you role <role>`) if you need it."
    )
    assert await bot.say("unfreeze F-1") == ":sunny: F-1 cancelled: *production* is no longer frozen by it."
    assert await posted(bot, TEAM_CHANNEL, ":sunny:") == (
        f":sunny: <@{ADMIN}> cancelled F-1: *production* is no longer frozen by it."
    )
    again = await bot.say("unfreeze F-1")
    assert again.startswith("F-1 was already cancelled, ")
    [audit] = await rows(bot, AuditRow, AuditRow.action == "freeze.cancel")
    assert (audit.actor, audit.target) == (ADMIN, "F-1")


async def test_bad_lock_and_freeze_input_gets_a_precise_message_and_stores_nothing(configured: Bot) -> None:
    bot = configured
    before = await count(bot, ProcessedRequestRow.request_key)
    cases = {
        "lock moon": "There is no environment `moon`.\nEnvironments: `staging`, `production`.",
        "lock staging nope": "There is no service `nope`.\nKnown services: `payments-api`.",
        "lock staging for 2x": "`2x` is not a duration: write it like `90m`, `24h` or `2d` (units: s, m, h, d, w).",
        "lock staging for 45d": "`45d` is too long: a lock lasts at most 30d.",
        "unlock staging": "*staging* is not locked.",
        "unlock staging --force": "Missing `reason <text>`: breaking someone else's lock needs a reason.",
        "freeze production until 2026-13-01T00:00": "`2026-13-01T00:00` is not a date and time",
        f"freeze production until {minute(timedelta(hours=-1))}": "`until` is in the past (",
        f"freeze production from {minute(timedelta(hours=3))} until {minute(timedelta(hours=1))}": (
            "`until` must be after `from`: the freeze would start "
        ),
        f"freeze production until {minute(timedelta(hours=1))} tz Mars/Olympus": "`Mars/Olympus` is not a time zone",
        f"freeze moon until {minute(timedelta(hours=1))}": "There is no environment `moon`.",
        "unfreeze F-42": "There is no freeze F-42.",
        "unfreeze R-42": "`R-42` is not a F reference.",
    }
    for text, expected in cases.items():
        answer = await bot.say(text)
        assert answer.startswith(expected), (text, answer)
    assert await count(bot, LockRow.id) == 0
    assert await count(bot, FreezeRow.id) == 0
    assert await count(bot, ProcessedRequestRow.request_key) == before

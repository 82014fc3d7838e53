"""App Home end to end: published on app_home_opened, its buttons approve through the card's own path."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from bot.fakeslack import Call
from core.model import Role
from handlers import ids
from handlers.home_blocks import ago
from storage.rows import AuditRow, HomeViewRow
from tests.e2e.conftest import DEV, SECRET, Bot
from tests.support import blockkit
from tests.support.slack_requests import FORM, JSON, app_home_opened, new_trigger_id, sample, signed_headers

CAROL = "U0CAROL003"
CHANNEL = "C0PAYMENTS1"


async def open_home(bot: Bot, user_id: str, *, tab: str = "home") -> None:
    body = app_home_opened(user_id, tab=tab)
    reply = await bot.post(body, signed_headers(body, SECRET, content_type=JSON))
    assert reply.status == 200


def published_to(user_id: str, text: str | None = None) -> Any:
    def matches(call: Call) -> bool:
        shown = json.dumps(call.args["view"], ensure_ascii=False)
        return call.args.get("user_id") == user_id and (text is None or text in shown)

    return matches


async def home_of(bot: Bot, user_id: str, text: str | None = None) -> dict[str, Any]:
    calls = await bot.fake.wait_for("views.publish", published_to(user_id, text))
    view: dict[str, Any] = calls[-1].args["view"]
    blockkit.assert_valid("home", view)
    return view


def texts(view: dict[str, Any]) -> list[str]:
    """Every text of the view, block by block (headers, sections with their fields, contexts)."""
    found = []
    for block in view["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [field["text"] for field in block.get("fields", [])]
        found += [element["text"] for element in block.get("elements", []) if element.get("type") == "mrkdwn"]
    return found


async def home_click(bot: Bot, user_id: str, action_id: str, value: str) -> None:
    """Press a button of the person's published Home view, as Slack sends it (no channel, no response_url)."""
    view = bot.fake.home_view(user_id)
    assert view is not None
    block, element = next(
        (b, e) for b in view["blocks"] for e in b.get("elements", []) if e.get("action_id") == action_id
    )
    payload = sample("block_actions.json")["payload"]
    for key in ("channel", "message", "response_url"):
        del payload[key]
    payload.update(
        user={"id": user_id, "username": "carol", "name": "carol", "team_id": payload["user"]["team_id"]},
        container={"type": "view", "view_id": view["id"]},
        view=view,
        trigger_id=new_trigger_id(),
        actions=[
            {
                "action_id": action_id,
                "block_id": block["block_id"],
                "text": element["text"],
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    )
    body = ("payload=" + quote(json.dumps(payload, separators=(",", ":")))).encode("ascii")
    reply = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    assert reply.status == 200


async def in_team(bot: Bot, user_id: str, role: Role, team: str) -> None:
    async with bot.runtime.uow() as work:
        await work.users.set_role(user_id, role, now=bot.runtime.clock(), team=team)
        await work.commit()


async def waiting_in_production(bot: Bot) -> str:
    """bob (team payments) deployed v1 to staging, and asked for v1 in production (one approval); returns the
    card's ts."""
    await in_team(bot, DEV, Role.DEVELOPER, "payments")
    await bot.say(f"user <@{CAROL}|carol> role developer")
    await bot.say("policy production approvals 1 by developer admin")
    await bot.say("create payments-api v1 commit abc1234", user_id=DEV)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await bot.settle()
    posts = bot.fake.calls_to("chat.postMessage")
    return str(next(c for c in posts if "D-2" in c.args["text"]).response["ts"])


async def test_opening_home_publishes_approvals_deployments_environments_locks_metrics_and_preferences(
    configured: Bot,
) -> None:
    bot = configured
    await waiting_in_production(bot)
    await bot.say("lock staging payments-api reason smoke tests", user_id=DEV)
    await open_home(bot, CAROL)
    carol = texts(await home_of(bot, CAROL))
    async with bot.runtime.uow() as work:
        requested = await work.deployments.get(2)
        staged = await work.deployments.get(1)
    assert requested is not None and requested.expires_at is not None and staged is not None
    assert staged.finished_at is not None
    expires = f"<!date^{int(requested.expires_at.timestamp())}^{{date_short_pretty}} {{time}}|"
    assert carol[0] == "Waiting for your approval (1)"
    assert carol[1].startswith(
        ":hourglass_flowing_sand: *D-2* payments-api `v1` → *production*, requested by <@U0BOB00002>\n"
        f"0 given, 1 still needed · expires {expires}"
    )
    assert carol[2:4] == ["Your recent deployments", "You have not requested a deployment yet."]
    assert carol[4:6] == ["Environments: every service", "*payments-api* in <#C0PAYMENTS1>"]
    assert carol[6] == f"*staging* :lock:\n`v1` {ago(staged.finished_at)}"
    assert carol[7] == "*production*\nnothing deployed\n:hourglass_flowing_sand: D-2 `v1` waiting for approval"
    assert carol[8] == ":lock: locked · :snowflake: frozen now"
    assert carol[9] == "Locks and freezes"
    assert carol[10].startswith(":lock: L-1 *payments-api* in *staging*: <@U0BOB00002> until unlocked: smoke tests")
    assert carol[11] == "This week: all teams"  # carol is in no team
    assert carol[12].startswith("Production, <!date^")
    assert carol[13:18] == [
        "*Deploys*\n0",
        "*Lead time (median)*\nno data",
        "*Change failure rate*\nno data",
        "*Time to restore (median)*\nno data",
        "`/release metrics` shows more.",
    ]
    assert carol[-3:] == [
        "Your notifications",
        "Direct messages: how your deployments ended: *on* (`deploy-finished`); each deployment you are asked "
        "to approve: *off* (`approval-requests`).\nChannels: *payments-api* `everything`.",
        "Change them with `/release notify`: `/release notify me approval-requests on`, for example.",
    ]
    view = bot.fake.home_view(CAROL)
    assert view is not None
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [(ids.ACTION_APPROVE, "D-2"), (ids.ACTION_REJECT, "D-2")]
    assert all("confirm" in b for b in buttons)  # production: as on the card

    await open_home(bot, DEV)
    bob = texts(await home_of(bot, DEV))
    assert bob[:2] == ["Waiting for your approval (0)", "Nothing is waiting for your approval."]
    assert bob[2] == "Your recent deployments"
    pending, deployed = bob[3].splitlines()
    assert pending.startswith(
        ":hourglass_flowing_sand: *D-2* payments-api `v1` → *production*: waiting for approval <!"
    )
    assert deployed == f":white_check_mark: *D-1* payments-api `v1` → *staging*: deployed {ago(staged.finished_at)}"
    assert bob[4] == "Environments: team payments"
    async with bot.runtime.uow() as work:
        opened = (await work.session.execute(select(HomeViewRow.slack_user_id))).scalars().all()
    assert sorted(opened) == [DEV, CAROL]


async def test_the_messages_tab_publishes_nothing(configured: Bot) -> None:
    await open_home(configured, CAROL, tab="messages")
    await configured.runtime.deps.tasks.drain()
    assert configured.fake.calls_to("views.publish") == []


async def test_approve_on_home_takes_the_cards_path_and_answers_on_home(configured: Bot) -> None:
    bot = configured
    ts = await waiting_in_production(bot)
    await open_home(bot, CAROL)
    await home_of(bot, CAROL, "Approve")
    await home_click(bot, CAROL, ids.ACTION_APPROVE, "D-2")
    answer = "You approved D-2 (payments-api `v1` → production); it is now deployed."
    view = await home_of(bot, CAROL, answer)
    assert texts(view)[0] == f":information_source: {answer}"
    assert "Nothing is waiting for your approval." in texts(view)
    assert not any(b["type"] == "actions" for b in view["blocks"])
    await bot.settle()
    updates = [c for c in bot.fake.calls_to("chat.update") if c.args.get("ts") == ts]
    assert updates and "D-2* payments-api `v1` \\u2192 *production*: deployed" in json.dumps(updates[-1].args["blocks"])
    async with bot.runtime.uow() as work:
        deployment = await work.deployments.get(2)
        query = select(AuditRow.actor, AuditRow.target, AuditRow.details).where(AuditRow.action == "button.click")
        clicks = (await work.session.execute(query)).all()
    assert deployment is not None and deployment.status.value == "success"
    assert [(actor, target, "view_id" in details) for actor, target, details in clicks] == [(CAROL, "D-2", True)]


async def test_a_refused_click_on_home_is_answered_on_home(configured: Bot) -> None:
    bot = configured
    await waiting_in_production(bot)
    await open_home(bot, CAROL)
    await home_of(bot, CAROL, "Approve")
    await bot.say(f"user <@{CAROL}|carol> role viewer")
    await home_click(bot, CAROL, ids.ACTION_APPROVE, "D-2")
    view = await home_of(bot, CAROL, "approve deployments: your role is viewer")
    assert texts(view)[0].startswith(":information_source: You can't approve deployments: your role is viewer.")
    async with bot.runtime.uow() as work:
        deployment = await work.deployments.get(2)
    assert deployment is not None and deployment.status.value == "pending_approval"


async def test_reject_on_home_opens_the_reason_form(configured: Bot) -> None:
    bot = configured
    await waiting_in_production(bot)
    await open_home(bot, CAROL)
    await home_of(bot, CAROL, "Reject")
    await home_click(bot, CAROL, ids.ACTION_REJECT, "D-2")
    (opened,) = await bot.fake.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == ids.VIEW_REJECT
    assert opened.args["view"]["private_metadata"] == "D-2"


async def test_a_change_refreshes_the_home_of_those_who_opened_it(configured: Bot) -> None:
    bot = configured
    bot.runtime.home.stop()  # this test runs the refresh rounds itself
    await waiting_in_production(bot)
    await open_home(bot, CAROL)
    await home_of(bot, CAROL, "Approve")
    await bot.say("approve D-2")  # alice, an admin, approves from a message
    await bot.settle()
    async with bot.runtime.uow() as work:  # the interval since carol's own publish has passed
        await work.home.published(CAROL, digest="stale", now=bot.runtime.clock().replace(year=2000))
        await work.commit()
    assert await bot.runtime.home.refresh() == 1
    view = await home_of(bot, CAROL, "Nothing is waiting for your approval.")
    assert any(text.startswith("*production*\n`v1` <!date^") for text in texts(view))
    assert await bot.runtime.home.refresh() == 0  # nothing changed since: nothing published
    assert [c.args["user_id"] for c in bot.fake.calls_to("views.publish")] == [CAROL, CAROL]  # alice never opened it


async def test_a_committed_command_wakes_the_refresh_loop(configured: Bot) -> None:
    bot = configured
    bot.runtime.home.schedule.delay = timedelta(0)  # no waiting in this test: the loop itself publishes
    bot.runtime.home.schedule.interval = timedelta(0)
    await open_home(bot, CAROL)
    await home_of(bot, CAROL, "Nothing is locked or frozen.")
    await bot.say("lock staging reason maintenance")
    view = await home_of(bot, CAROL, ":lock: L-1 *staging*: <@U0ALICE001> until unlocked: maintenance")
    assert "Nothing is locked or frozen." not in json.dumps(view)

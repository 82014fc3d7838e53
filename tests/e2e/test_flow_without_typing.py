"""The whole release flow by pointing and clicking: the deploy form, its preview and Confirm, the approval card,
the pipeline's one evolving message, a failing smoke stage and its Roll back button. Only the configuration is
typed; the developer types ``/release deploy`` and a few letters into the service picker, nothing else."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.fakeslack import Call
from core.model import StageSpec
from handlers import ids
from storage.rows import ApprovalRow, DeploymentRow, DeploymentStageRow, LockRow, ReleaseRow, RollbackRow
from tests.e2e.conftest import DEV, SECRET, Bot
from tests.support import blockkit
from tests.support.form_requests import block_suggestion, external_option, view_action
from tests.support.slack_requests import FORM, block_actions, signed_headers, slash_command, view_submission

CAROL = "U0CAROL003"
CHANNEL = "C0PAYMENTS1"
TRIGGER = "7001234599101.1234567890123.0123456789abcdef0123456789abcdef"
PIPELINE_S = 30.0  # the longest wait for a pipeline's next message; never reached when things work
SCRIPT = str(Path(__file__).resolve().parents[1] / "support" / "stage_script.py")
# The deploy stage waits for the test to open a gate (a file), so the message is seen while it runs; the smoke
# stage fails for v2 only, so the rollback to v1 passes it.
GATE = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)\nprint('deployed')"
SMOKE = "import os, sys; v = os.environ['RELEASEBOT_VERSION']; print('smoke', v); sys.exit(4 if v == 'v2' else 0)"


def stages(gate: Path) -> list[StageSpec]:
    return [
        StageSpec("build", command=[sys.executable, SCRIPT, "--lines", "1"], timeout_s=60),
        StageSpec("deploy", command=[sys.executable, "-c", GATE, str(gate)], timeout_s=60),
        StageSpec("smoke", command=[sys.executable, "-c", SMOKE], timeout_s=60),
    ]


class Person:
    """Someone using Slack's surfaces. Every request goes through here, so the test can tell what was typed."""

    def __init__(self, bot: Bot, user_id: str) -> None:
        self.bot = bot
        self.user_id = user_id
        self.sent: list[tuple[str, str]] = []  # (what kind of request, the text typed or the thing picked)

    async def _post(self, body: bytes) -> dict[str, Any] | None:
        reply = await self.bot.post(body, signed_headers(body, SECRET, content_type=FORM))
        assert reply.status == 200, reply.body
        return json.loads(reply.body) if reply.body else None

    async def slash(self, text: str, *, trigger_id: str) -> dict[str, Any] | None:
        self.sent.append(("command", text))
        url = self.bot.fake.response_url(f"command-{len(self.sent)}")
        return await self._post(slash_command(text, user_id=self.user_id, trigger_id=trigger_id, response_url=url))

    async def type_ahead(self, view: dict[str, Any], typed: str) -> list[str]:
        self.sent.append(("search", typed))
        answer = await self._post(block_suggestion(ids.ACTION_FORM_SERVICE, typed, view=view, user_id=self.user_id))
        assert answer is not None
        return [option["value"] for option in answer["options"]]

    async def pick(self, view: dict[str, Any], action_id: str, value: str) -> None:
        self.sent.append(("pick", value))
        selected = external_option(value)
        assert await self._post(view_action(action_id, view=view, user_id=self.user_id, selected=selected)) is None

    async def submit(self, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(("submit", view["callback_id"]))
        body = view_submission(
            view["callback_id"], values, user_id=self.user_id, view=view, private_metadata=view["private_metadata"]
        )
        answer = await self._post(body)
        assert answer is not None
        return answer

    async def press_in_form(self, view: dict[str, Any], action_id: str) -> None:
        self.sent.append(("button", action_id))
        assert await self._post(view_action(action_id, view=view, user_id=self.user_id)) is None

    async def press(self, action_id: str, value: str, *, ts: str) -> str:
        """Press a button of the message ``ts`` in the service's channel; returns the key of the click's
        response_url."""
        self.sent.append(("button", action_id))
        key = f"{action_id}-{self.user_id}-{len(self.sent)}"
        body = block_actions(
            action_id,
            value,
            user_id=self.user_id,
            channel_id=CHANNEL,
            message_ts=ts,
            blocks=self.bot.fake.message(CHANNEL, ts)["blocks"],
            response_url=self.bot.fake.response_url(key),
        )
        assert await self._post(body) is None
        return key


def blocks_of(call: Call) -> list[dict[str, Any]]:
    value = call.args.get("blocks") or []
    return json.loads(value) if isinstance(value, str) else list(value)


def headline(call: Call) -> str:
    return str(blocks_of(call)[0]["text"]["text"])


def block_text(call: Call, block_id: str) -> str:
    return next(str(b["text"]["text"]) for b in blocks_of(call) if b.get("block_id") == block_id)


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


def in_channel(bot: Bot, method: str, ts: str | None = None) -> list[Call]:
    """The calls to ``method`` in the service's channel (``ts``: the updates of that message)."""
    return [
        c
        for c in bot.fake.calls_to(method)
        if c.args.get("channel") == CHANNEL and (ts is None or c.args.get("ts") == ts)
    ]


def top_level_posts(bot: Bot) -> list[str]:
    return [headline(c) for c in in_channel(bot, "chat.postMessage") if not c.args.get("thread_ts")]


def direct_messages(bot: Bot, user_id: str) -> list[str]:
    return [str(c.args["text"]) for c in bot.fake.calls_to("chat.postMessage") if c.args.get("channel") == user_id]


async def rows(bot: Bot, statement: Any) -> list[tuple[Any, ...]]:
    async with bot.runtime.uow() as work:
        return [tuple(row) for row in (await work.session.execute(statement)).all()]


async def deployments(bot: Bot) -> list[tuple[Any, ...]]:
    columns = (DeploymentRow.id, DeploymentRow.kind, DeploymentRow.status, DeploymentRow.requested_by)
    return await rows(bot, select(*columns, DeploymentRow.rollback_of_id).order_by(DeploymentRow.id))


async def stage_statuses(bot: Bot, deployment_id: int) -> list[tuple[Any, ...]]:
    statement = select(DeploymentStageRow.name, DeploymentStageRow.status, DeploymentStageRow.exit_code)
    where = DeploymentStageRow.deployment_id == deployment_id
    return await rows(bot, statement.where(where).order_by(DeploymentStageRow.position))


async def update_of(bot: Bot, ts: str, wanted: str, *, timeout: float = PIPELINE_S) -> Call:
    """The first update of the message ``ts`` whose blocks contain ``wanted``."""
    calls = await bot.fake.wait_for(
        "chat.update", lambda c: c.args.get("ts") == ts and wanted in json.dumps(blocks_of(c)), timeout=timeout
    )
    return calls[0]


@pytest.fixture
async def declared(bot: Bot, tmp_path: Path) -> tuple[Bot, Path]:
    """The configuration, typed by an admin: payments-api (with its repository) runs v1 in staging and production
    and v2 passed staging; production then needs one approval by a developer or an admin, after staging, and
    runs build, deploy and smoke. Returns the bot and the deploy stage's gate."""
    for text in (
        "team add payments channel <#C0PAYMENTS1|payments-releases> tz Europe/Paris",
        "service add payments-api team payments channel <#C0PAYMENTS1|payments-releases> "
        "repo <https://github.com/acme/payments-api>",
        "env add staging order 1",
        "env add production production order 2",
        f"user <@{DEV}|bob> role developer",
        f"user <@{CAROL}|carol> role developer",
    ):
        answer = await bot.say(text)
        assert answer.startswith(("Saved", "<@")), answer
    await bot.say("create payments-api v1 commit abc1234", user_id=DEV)
    await bot.say("create payments-api v2 commit def5678 notes Faster refunds", user_id=DEV)
    for text in ("deploy payments-api v1 to staging", "deploy payments-api v1 to production"):
        assert (await bot.say(text, user_id=DEV)).startswith(":white_check_mark: D-"), text
    assert (await bot.say("deploy payments-api v2 to staging", user_id=DEV)).startswith(":white_check_mark: D-3:")
    answer = await bot.say("policy production approvals 1 by developer admin requires staging")
    assert answer.startswith("*production*: "), answer
    gate = tmp_path / "deploy-gate"
    async with bot.runtime.uow() as work:
        production = await work.environments.get("production")
        assert production is not None
        await work.environments.upsert(replace(production, stages=stages(gate)), now=bot.runtime.clock())
        await work.commit()
    await bot.settle()
    bot.fake.clear()
    return bot, gate


async def open_and_fill_the_form(bot: Bot, bob: Person) -> dict[str, Any]:
    """``/release deploy`` alone, the service found by typing, then picked: returns the form with its versions."""
    assert await bob.slash("deploy", trigger_id=TRIGGER) is None  # an empty ack: the form answers
    (opened,) = await bot.fake.wait_for("views.open", lambda c: c.args.get("trigger_id") == TRIGGER)
    view_id = opened.response["view"]["id"]
    (filled,) = await bot.fake.wait_for("views.update", lambda c: c.args.get("view_id") == view_id)
    assert filled.args["hash"] == opened.response["view"]["hash"]
    view = bot.fake.view(view_id)
    assert view["callback_id"] == ids.VIEW_DEPLOY_FORM
    assert await bob.type_ahead(view, "pay") == ["payments-api"]
    await bob.pick(view, ids.ACTION_FORM_SERVICE, "payments-api")
    (_, picked) = await bot.fake.wait_for("views.update", lambda c: c.args.get("view_id") == view_id, count=2)
    assert picked.args["hash"] == view["hash"]
    view = bot.fake.view(view_id)
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert [e["type"] for e in inputs.values()] == ["external_select", "static_select", "static_select"]
    assert [o["text"]["text"] for o in inputs[f"{ids.BLOCK_FORM_VERSION}:payments-api"]["options"]] == [
        "v2 (def5678)",
        "v1 (abc1234)",
    ]
    assert [o["value"] for o in inputs[ids.BLOCK_FORM_ENVIRONMENT]["options"]] == ["staging", "production"]
    assert [c.method for c in bot.fake.calls] == ["views.open", "views.update", "views.update"]
    return view


async def submit_and_confirm_twice(bot: Bot, bob: Person, view: dict[str, Any]) -> str:
    """Pick v2 and production, submit, read the preview, double-click Confirm: returns the approval card's ts."""
    values = {
        ids.BLOCK_FORM_SERVICE: {
            ids.ACTION_FORM_SERVICE: {"type": "external_select", "selected_option": external_option("payments-api")}
        },
        f"{ids.BLOCK_FORM_VERSION}:payments-api": "v2",
        ids.BLOCK_FORM_ENVIRONMENT: "production",
    }
    answer = await bob.submit(view, values)
    assert answer["response_action"] == "update"
    preview = answer["view"]
    blockkit.assert_valid("modal", preview)
    assert section_texts(preview["blocks"]) == [
        "*Dry run*: *payments-api* `v2` to *production*. Nothing was stored.",
        "*Version*: `v1` → `v2`\n*Commits*: `abc1234` → `def5678` "
        "(<https://github.com/acme/payments-api/compare/abc1234...def5678|compare>)\n"
        "*Approvals*: 1 by developers, admins; not by you, the requester\n"
        "*Promotion order*: `v2` succeeded in *staging*, as *production* requires",
        "*In the way*: nothing (no lock, freeze or other deployment)",
        ":white_check_mark: Allowed: it would wait for approval, then deploy.",
    ]
    assert buttons(preview["blocks"]) == [ids.ACTION_DEPLOY_CONFIRM]
    assert len(await deployments(bot)) == 3  # a preview stores nothing
    shown = bot.fake.workspace.save_view(preview, surface="modal", view_id=view["id"])
    confirm = ids.ACTION_DEPLOY_CONFIRM
    await asyncio.gather(bob.press_in_form(shown, confirm), bob.press_in_form(shown, confirm))
    (card,) = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == CHANNEL)
    await bot.settle()
    confirmed = sorted(c.method for c in bot.fake.calls[3:])
    assert confirmed == ["chat.postEphemeral", "chat.postMessage", "views.update"]  # one answer, however many clicks
    assert (await deployments(bot))[3:] == [(4, "deploy", "pending_approval", DEV, None)]
    requested = ":hourglass_flowing_sand: D-4: *payments-api* `v2` to *production* (was `v1`): pending approval."
    done = bot.fake.view(view["id"])
    assert (done["title"]["text"], section_texts(done["blocks"])) == (
        "Deployment requested",
        [f"{requested} Posted in <#{CHANNEL}>."],
    )
    (ephemeral,) = bot.fake.calls_to("chat.postEphemeral")
    assert (ephemeral.args["channel"], ephemeral.args["user"]) == (CHANNEL, DEV)
    assert ephemeral.args["text"] == f"{requested} Posted in <#{CHANNEL}>."
    assert top_level_posts(bot) == [
        ":hourglass_flowing_sand: *D-4* payments-api `v2` → *production*: waiting for approval"
    ]
    fields = [f["text"] for f in blocks_of(card)[1]["fields"]]
    assert fields[:5] == [
        f"*Requested by*\n<@{DEV}>",
        "*Version*\n`v1` → `v2`",
        "*Commit*\n`def5678`",
        "*Approvers*\ndevelopers, admins",
        "*Approvals*\n0 given, 1 still needed",
    ]
    assert buttons(blocks_of(card)) == [ids.ACTION_APPROVE, ids.ACTION_REJECT]
    return str(card.response["ts"])


async def approve_and_watch_the_pipeline_fail(bot: Bot, carol: Person, ts: str, gate: Path) -> Call:
    """Another developer approves on the card; the same message shows the stages, then the failure."""
    key = await carol.press(ids.ACTION_APPROVE, "D-4", ts=ts)
    assert await bot.ephemeral(key) == "You approved D-4 (payments-api `v2` → production); it is now running."
    assert await rows(bot, select(ApprovalRow.deployment_id, ApprovalRow.approver, ApprovalRow.decision)) == [
        (4, CAROL, "approved")
    ]
    approved = await update_of(bot, ts, f":white_check_mark: <@{CAROL}>")
    assert not {ids.ACTION_APPROVE, ids.ACTION_REJECT} & set(buttons(blocks_of(approved)))
    running = await update_of(bot, ts, ":arrows_counterclockwise: deploy (running since ")
    assert headline(running) == ":arrows_counterclockwise: *D-4* payments-api `v2` → *production*: running"
    checklist = block_text(running, "stages").splitlines()
    assert checklist[0].startswith(":white_check_mark: build (") and checklist[2] == ":white_circle: smoke"
    await asyncio.to_thread(gate.touch)  # let the deploy stage finish
    failed = await update_of(bot, ts, ": failed")
    await bot.settle()
    assert headline(failed) == ":x: *D-4* payments-api `v2` → *production*: failed"
    assert re.fullmatch(
        r":white_check_mark: build \([\d.]+s\)\n:white_check_mark: deploy \([\d.]+s\)\n"
        r":x: smoke \([\d.]+s\): exit code 4",
        block_text(failed, "stages"),
    ), block_text(failed, "stages")
    assert buttons(blocks_of(failed)) == [ids.ACTION_ROLLBACK]
    assert await stage_statuses(bot, 4) == [("build", "success", 0), ("deploy", "success", 0), ("smoke", "failed", 4)]
    assert (await deployments(bot))[3] == (4, "deploy", "failed", DEV, None)
    return failed


async def test_a_developer_deploys_approves_sees_the_failure_and_rolls_back_without_typing_arguments(
    declared: tuple[Bot, Path],
) -> None:
    bot, gate = declared
    bob, carol = Person(bot, DEV), Person(bot, CAROL)
    view = await open_and_fill_the_form(bot, bob)
    ts = await submit_and_confirm_twice(bot, bob, view)
    await approve_and_watch_the_pipeline_fail(bot, carol, ts, gate)
    # One evolving message: the card, updated in place, its stage output in its thread, nothing else posted.
    assert top_level_posts(bot) == [
        ":hourglass_flowing_sand: *D-4* payments-api `v2` → *production*: waiting for approval"
    ]
    updates = in_channel(bot, "chat.update")
    assert {c.args["ts"] for c in updates} == {ts}
    shown = [headline(c).rsplit(": ", 1)[-1] for c in updates]
    assert [s for i, s in enumerate(shown) if i == 0 or shown[i - 1] != s] == ["running", "failed"]
    replies = [c for c in in_channel(bot, "chat.postMessage") if c.args.get("thread_ts")]
    assert [(c.args["thread_ts"], c.args["text"]) for c in replies] == [
        (ts, "D-4 build output"),
        (ts, "D-4 deploy output"),
        (ts, "D-4 smoke output"),
    ]
    assert direct_messages(bot, DEV) == [
        "Your deployment D-4 of payments-api `v2` to *production*: approved; the pipeline is starting.",
        "Your deployment D-4 of payments-api `v2` to *production*: failed.\n>smoke: exit code 4",
    ]

    # Roll back, from the button of the failure.
    key = await bob.press(ids.ACTION_ROLLBACK, "D-4", ts=ts)
    assert await bot.ephemeral(key) == (
        ":rewind: D-5 rolls back *payments-api* in *production* from `v2` (D-4) to `v1`: running. Release `v2` is "
        f"marked bad. Posted in <#{CHANNEL}>.\n"
        ":lock: L-1: *payments-api* in *production* is locked for you until you unlock it: "
        "`/release unlock production payments-api`."
    )
    (posted,) = await bot.fake.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == CHANNEL and "*D-5*" in headline(c)
    )
    deployed = await update_of(bot, str(posted.response["ts"]), ": deployed")
    await bot.settle()
    assert headline(deployed) == ":white_check_mark: *D-5* payments-api `v1` → *production*: deployed"
    assert f":rewind: Rollback of D-4 by <@{DEV}>" in json.dumps(blocks_of(deployed))
    rolled_back = bot.fake.message(CHANNEL, ts)["blocks"]
    assert section_texts(rolled_back)[0] == ":rewind: *D-4* payments-api `v2` → *production*: rolled back"
    assert buttons(rolled_back) == []
    assert await deployments(bot) == [
        (1, "deploy", "success", DEV, None),
        (2, "deploy", "success", DEV, None),
        (3, "deploy", "success", DEV, None),
        (4, "deploy", "rolled_back", DEV, None),
        (5, "rollback", "success", DEV, 4),
    ]
    assert await stage_statuses(bot, 5) == [("build", "success", 0), ("deploy", "success", 0), ("smoke", "success", 0)]
    assert await rows(bot, select(RollbackRow.from_deployment_id, RollbackRow.deployment_id)) == [(4, 5)]
    assert await rows(bot, select(ReleaseRow.version, ReleaseRow.status).order_by(ReleaseRow.id)) == [
        ("v1", "active"),
        ("v2", "bad"),
    ]
    assert await rows(bot, select(LockRow.owner, LockRow.released_at)) == [(DEV, None)]
    assert direct_messages(bot, DEV)[-1] == "Your deployment D-5 of payments-api `v1` to *production*: deployed."

    # Nothing but `/release deploy` was typed; the rest was picked and pressed.
    assert [text for kind, text in bob.sent + carol.sent if kind == "command"] == ["deploy"]
    assert bob.sent == [
        ("command", "deploy"),
        ("search", "pay"),
        ("pick", "payments-api"),
        ("submit", ids.VIEW_DEPLOY_FORM),
        ("button", ids.ACTION_DEPLOY_CONFIRM),
        ("button", ids.ACTION_DEPLOY_CONFIRM),
        ("button", ids.ACTION_ROLLBACK),
    ]
    assert carol.sent == [("button", ids.ACTION_APPROVE)]

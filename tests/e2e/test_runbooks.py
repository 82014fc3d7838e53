"""Runbooks through Slack: the form opened with the command's trigger, inline errors, edits, search replies, and
the runbooks linked from a failed deployment's message and a rollback's, shown to whoever presses them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from core import runbooks
from core.model import Actor, DeploymentStatus, Role
from core.runbooks import RunbookDraft
from handlers import ids
from storage.rows import AuditRow, RunbookRow
from tests.e2e.conftest import ADMIN, DEV, SECRET, Bot
from tests.e2e.test_rollbacks import FAILS, card, card_ts, set_stages, wait_status
from tests.support import blockkit
from tests.support.slack_requests import FORM, block_actions, new_trigger_id, signed_headers

CHANNEL = "C0PAYMENTS1"
DAVE = "U0DAVE0004"  # nobody gave him a role: a viewer


def as_dict(view: Any) -> dict[str, Any]:
    return json.loads(view) if isinstance(view, str) else dict(view)


async def modal_shown(bot: Bot, trigger: str) -> dict[str, Any]:
    """The view loaded into the modal opened with ``trigger`` (a placeholder opens at once, then is replaced)."""
    opened = await bot.fake.wait_for("views.open", lambda c: c.args.get("trigger_id") == trigger)
    assert as_dict(opened[0].args["view"])["blocks"][0]["text"]["text"].startswith("Loading")
    view_id = opened[0].response["view"]["id"]
    updated = await bot.fake.wait_for("views.update", lambda c: c.args.get("view_id") == view_id)
    return as_dict(updated[0].args["view"])


async def open_form(bot: Bot, text: str, user_id: str = DEV) -> dict[str, Any]:
    """Send the command with a known trigger; returns what the modal opened with that trigger shows."""
    trigger = new_trigger_id()
    body, _ = bot.slash_body(text, user_id=user_id, trigger_id=trigger)
    await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    return await modal_shown(bot, trigger)


async def submit(bot: Bot, view: dict[str, Any], values: dict[str, Any], user_id: str = DEV) -> dict[str, Any] | None:
    reply = await bot.submit(
        ids.VIEW_RUNBOOK_FORM, values, user_id=user_id, view=view, private_metadata=view["private_metadata"]
    )
    assert reply.status == 200
    return json.loads(reply.body) if reply.body else None


def form_values(title: str, content: str, service: str | None, environment: str | None, tags: str) -> dict[str, Any]:
    return {
        ids.BLOCK_RUNBOOK_TITLE: title,
        ids.BLOCK_RUNBOOK_CONTENT: content,
        ids.BLOCK_RUNBOOK_SERVICE: service,
        ids.BLOCK_RUNBOOK_ENVIRONMENT: environment,
        ids.BLOCK_RUNBOOK_TAGS: tags,
    }


async def stored(bot: Bot) -> list[tuple[str, str, list[Any]]]:
    async with bot.runtime.uow() as work:
        rows = (await work.session.execute(select(RunbookRow).order_by(RunbookRow.id))).scalars().all()
        return [(row.title, row.content, row.tags) for row in rows]


async def test_add_opens_the_form_with_the_commands_trigger_checks_it_inline_and_saves(configured: Bot) -> None:
    bot = configured
    view = await open_form(bot, "runbook add")
    assert view["callback_id"] == ids.VIEW_RUNBOOK_FORM and view["title"]["text"] == "New runbook"

    unknown = {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": "x"}}
    bad = form_values("   ", "Steps", None, None, "ok, not ok")
    bad[ids.BLOCK_RUNBOOK_SERVICE] = {ids.ACTION_RUNBOOK_SERVICE: unknown}
    assert await submit(bot, view, bad) == {
        "response_action": "errors",
        "errors": {
            ids.BLOCK_RUNBOOK_TITLE: "Give the runbook a title.",
            ids.BLOCK_RUNBOOK_SERVICE: 'There is no service "x". Known: payments-api.',
            ids.BLOCK_RUNBOOK_TAGS: '"not ok" is not a tag: use lower-case letters, digits, ".", "_" or "-" (up to 30), '
            "and commas between tags.",
        },
    }
    assert await stored(bot) == []

    good = form_values("Database failover", "1. Promote the replica", "payments-api", "production", "DB, failover")
    saved = await submit(bot, view, good)

    assert saved is not None and saved["response_action"] == "update"
    blockkit.assert_valid("modal", saved["view"])
    assert saved["view"]["blocks"][0]["text"]["text"] == (
        ":white_check_mark: Saved *RB-1* Database failover. Find it with `/release runbook <words>`."
    )
    assert await stored(bot) == [("Database failover", "1. Promote the replica", ["db", "failover"])]
    async with bot.runtime.uow() as work:
        actions = (await work.session.execute(select(AuditRow.action, AuditRow.actor, AuditRow.target))).all()
    assert ("runbook.create", DEV, "RB-1") in [tuple(a) for a in actions]


async def test_edit_opens_the_form_prefilled_and_the_search_finds_the_new_words(configured: Bot) -> None:
    bot = configured
    view = await open_form(bot, "runbook add")
    await submit(bot, view, form_values("Cache flush", "Flush redis.", "payments-api", None, "cache"))

    view = await open_form(bot, "runbook edit RB-1", user_id=ADMIN)

    assert view["title"]["text"] == "Edit RB-1"
    elements = {block["block_id"]: block["element"] for block in view["blocks"]}
    assert elements[ids.BLOCK_RUNBOOK_TITLE]["initial_value"] == "Cache flush"
    assert elements[ids.BLOCK_RUNBOOK_SERVICE]["initial_option"]["value"] == "payments-api"
    assert "initial_option" not in elements[ids.BLOCK_RUNBOOK_ENVIRONMENT]
    saved = await submit(
        bot, view, form_values("Cache flush", "Restart memcached.", "payments-api", "none", "cache"), user_id=ADMIN
    )
    assert saved is not None
    assert saved["view"]["blocks"][0]["text"]["text"] == ":white_check_mark: Updated *RB-1* Cache flush (content)."
    assert await bot.say("runbook redis") == (
        "No runbook matches `redis`: each word must appear in it. Try fewer words, or `/release runbooks`."
    )
    assert (await bot.say("runbook memcached")).startswith("*Runbooks matching* `memcached`\nRB-1 Cache flush")


async def test_viewers_may_search_but_not_open_the_form(configured: Bot) -> None:
    bot = configured
    refused = await open_form(bot, "runbook add", user_id=DAVE)

    assert refused["blocks"][0]["text"]["text"].startswith("You can't write runbooks: your role is viewer.")
    assert "submit" not in refused
    async with bot.runtime.uow() as work:
        denials = (
            await work.session.execute(select(AuditRow.actor).where(AuditRow.action == "permission.denied"))
        ).all()
    assert [tuple(d) for d in denials] == [(DAVE,)]
    missing = await open_form(bot, "runbook edit RB-9")
    assert missing["blocks"][0]["text"]["text"] == (
        "There is no runbook RB-9.\n`/release runbooks` lists them; `/release runbook <words>` searches them."
    )
    assert (await bot.say("runbooks", user_id=DAVE)).startswith("No runbooks yet.")


async def test_search_replies_escape_the_query_and_bold_the_matched_words(configured: Bot) -> None:
    bot = configured
    async with bot.runtime.uow() as work:
        await runbooks.save_runbook(
            work,
            actor=Actor(DEV, Role.DEVELOPER),
            runbook_id=None,
            draft=RunbookDraft("Failover <!here>", "When the database dies, promote the replica.", tags="db"),
            now=bot.runtime.clock(),
            request_id="setup",
        )
        await work.commit()

    _, reply = await bot.command("runbook <!> database", user_id=DAVE)
    assert reply is not None
    blockkit.assert_valid("message", {"text": reply["text"], "blocks": reply["blocks"]})
    hit = reply["blocks"][1]
    assert reply["blocks"][0]["text"]["text"] == "*Runbooks matching* `&lt;!&gt; database`"
    assert hit["text"]["text"].startswith(  # PostgreSQL's excerpt leaves out the final full stop
        "*RB-1* Failover &lt;!here&gt;\nany service · any environment · tags: db\n"
        ">When the *database* dies, promote the replica"
    )
    assert hit["accessory"]["action_id"] == "runbook_show:1"
    assert await bot.say("runbook nothing <b>") == (
        "No runbook matches `nothing &lt;b&gt;`: each word must appear in it. Try fewer words, or `/release runbooks`."
    )
    _, shown = await bot.command("runbook show RB-1", user_id=DAVE)
    assert shown is not None and shown["text"] == "RB-1: Failover &lt;!here&gt;"
    assert shown["blocks"][2]["text"]["text"] == "When the database dies, promote the replica."
    answer = await bot.say("runbook " + "long " * 50)
    assert answer.startswith("That search is 249 characters long; the limit is 200: use a few words.")


@pytest.fixture
async def failed_with_runbooks(configured: Bot) -> Bot:
    """Four runbooks of payments-api; v1 runs in production (D-1); v2's deploy stage failed there (D-2)."""
    bot = configured
    author = Actor(DEV, Role.DEVELOPER)
    for title, content, environment in (
        ("Production deploys", "Check the load balancer.", "production"),
        ("Cache flush", "Flush redis.", None),
        ("Broken deploy", "When a deploy fails with an exit code, read the output in the thread.", None),
        ("Staging data reset", "Reload the fixtures.", "staging"),
    ):
        async with bot.runtime.uow() as work:
            draft = RunbookDraft(title, content, "payments-api", environment)
            await runbooks.save_runbook(
                work, actor=author, runbook_id=None, draft=draft, now=bot.runtime.clock(), request_id=title
            )
            await work.commit()
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await set_stages(bot, FAILS)
    await bot.say("create payments-api v2", user_id=DEV)
    await bot.say("deploy payments-api v2 to production", user_id=DEV)
    await wait_status(bot, 2, DeploymentStatus.FAILED)
    await bot.settle()
    return bot


def linked(bot: Bot, reference: str) -> list[tuple[str, str]]:
    blocks = bot.fake.message(CHANNEL, card_ts(bot, reference))["blocks"]
    links = next((b for b in blocks if b.get("block_id") == f"{ids.BLOCK_RUNBOOKS}:{reference}"), None)
    return [(e["value"], e["text"]["text"]) for e in links["elements"]] if links else []


async def click_show(bot: Bot, reference: str, value: str, trigger: str) -> str:
    """Press a runbook's button on the deployment's message; returns the response_url key."""
    ts = card_ts(bot, reference)
    action = f"{ids.ACTION_RUNBOOK_SHOW}:{value.removeprefix('RB-')}"
    key = f"show-{trigger}"
    body = block_actions(
        action,
        value,
        user_id=DAVE,
        channel_id=CHANNEL,
        message_ts=ts,
        blocks=bot.fake.message(CHANNEL, ts)["blocks"],
        response_url=bot.fake.response_url(key),
        trigger_id=trigger,
    )
    await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    return key


async def test_a_failed_deployment_links_the_best_runbooks_and_shows_one_to_whoever_presses(
    failed_with_runbooks: Bot,
) -> None:
    bot = failed_with_runbooks
    assert "payments-api `v2` \\u2192 *production*: failed" in card(bot, "D-2")
    assert linked(bot, "D-2") == [
        ("RB-1", "RB-1: Production deploys"),  # for production
        ("RB-3", "RB-3: Broken deploy"),  # for any environment, matches the failing stage and its reason
        ("RB-2", "RB-2: Cache flush"),
    ]
    assert linked(bot, "D-1") == []  # it succeeded

    trigger = new_trigger_id()
    await click_show(bot, "D-2", "RB-3", trigger)
    view = await modal_shown(bot, trigger)
    assert view["title"]["text"] == "Runbook RB-3"
    assert view["blocks"][0]["text"]["text"] == "RB-3: Broken deploy"
    assert "read the output in the thread" in json.dumps(view["blocks"])

    # A trigger Slack no longer accepts: the runbook comes as a message only the clicker sees.
    key = await click_show(bot, "D-2", "RB-1", trigger)
    assert (await bot.ephemeral(key)) == "RB-1: Production deploys"
    await bot.settle()
    async with bot.runtime.uow() as work:
        clicks = (await work.session.execute(select(AuditRow.target).where(AuditRow.action == "button.click"))).all()
    assert [tuple(c) for c in clicks] == [("RB-3",), ("RB-1",)]


async def test_a_rollback_links_the_runbooks_too(failed_with_runbooks: Bot) -> None:
    bot = failed_with_runbooks
    answer = await bot.say("rollback payments-api production reason deploy went wrong", user_id=DEV)
    assert answer.startswith(":rewind: D-3 rolls back"), answer
    await wait_status(bot, 3, DeploymentStatus.FAILED)  # the same failing stage runs again
    await bot.settle()

    assert "Rollback of D-2" in card(bot, "D-3")
    assert linked(bot, "D-3") == [
        ("RB-1", "RB-1: Production deploys"),
        ("RB-3", "RB-3: Broken deploy"),
        ("RB-2", "RB-2: Cache flush"),
    ]
    assert "rolled back" in card(bot, "D-2") and [value for value, _ in linked(bot, "D-2")] == ["RB-1", "RB-3", "RB-2"]

"""Deployments through command pipeline stages: one evolving message, output in the thread, failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.model import StageSpec
from tests.e2e.conftest import DEV, Bot

CHANNEL = "C0PAYMENTS1"
SCRIPT = str(Path(__file__).resolve().parents[1] / "support" / "stage_script.py")


async def with_stages(bot: Bot, *stages: StageSpec) -> None:
    async with bot.runtime.uow() as work:
        env = await work.environments.get("staging")
        assert env is not None
        env.stages = list(stages)
        await work.environments.upsert(env, now=bot.runtime.clock())
        await work.commit()


def stage(name: str, *args: str, timeout_s: int = 60) -> StageSpec:
    return StageSpec(name=name, executor="command", command=[sys.executable, SCRIPT, *args], timeout_s=timeout_s)


async def final_message(bot: Bot, reference: str, word: str) -> dict:  # type: ignore[type-arg]
    def done(call) -> bool:  # type: ignore[no-untyped-def]
        return (
            call.method == "chat.update"
            and f"*{reference}*" in json.dumps(call.args.get("blocks"))
            and (word in json.dumps(call.args.get("blocks")))
        )

    calls = await bot.fake.wait_for("chat.update", done, timeout=20)
    return calls[0].args


async def test_three_stages_run_in_order_and_the_message_evolves(configured: Bot) -> None:
    bot = configured
    await with_stages(bot, stage("build", "--lines", "2"), stage("deploy", "--env"), stage("smoke", "--lines", "1"))
    await bot.say("create payments-api v2 commit abc1234", user_id=DEV)
    answer = await bot.say("deploy payments-api v2 to staging", user_id=DEV)
    assert answer.startswith(":arrows_counterclockwise: D-1: *payments-api* `v2` to *staging*")
    final = await final_message(bot, "D-1", ": deployed")
    text = json.dumps(final["blocks"])
    assert ":white_check_mark: build (" in text and ":white_check_mark: deploy (" in text
    assert ":white_check_mark: smoke (" in text
    await bot.settle()
    posts = [c for c in bot.fake.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL]
    assert len(posts) == 1 + 3  # the message itself, then one output reply per stage in its thread
    parent_ts = posts[0].response["ts"]
    replies = [p for p in posts[1:] if p.args.get("thread_ts") == parent_ts]
    assert len(replies) == 3
    assert "RELEASEBOT_DEPLOYMENT=D-1" in json.dumps(replies[1].args["blocks"])
    dm = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == DEV)
    assert dm[0].args["text"] == "Your deployment D-1 of payments-api `v2` to *staging*: deployed."
    async with bot.runtime.uow() as work:
        stages = await work.stages.for_deployment(1, with_output=True)
        assert [(s.name, s.status.value) for s in stages] == [
            ("build", "success"),
            ("deploy", "success"),
            ("smoke", "success"),
        ]
        assert "RELEASEBOT_SERVICE=payments-api" in (stages[1].output or "")


async def test_a_failing_stage_fails_the_deployment_and_offers_a_rollback(configured: Bot) -> None:
    bot = configured
    await with_stages(bot, stage("build"), stage("deploy", "--lines", "1", "--exit", "3"), stage("smoke"))
    await bot.say("create payments-api v2", user_id=DEV)
    await bot.say("deploy payments-api v2 to staging", user_id=DEV)
    final = await final_message(bot, "D-1", ": failed")
    text = json.dumps(final["blocks"])
    assert ":x: deploy (" in text and "exit code 3" in text and ":fast_forward: smoke" in text
    assert "Failed at stage *deploy*" in text
    actions = [b for b in final["blocks"] if b["type"] == "actions"]
    assert actions and actions[0]["elements"][0]["action_id"] == "deployment_rollback"
    dm = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == DEV)
    assert dm[0].args["text"].startswith("Your deployment D-1 of payments-api `v2` to *staging*: failed.")


async def test_a_stage_past_its_timeout_fails(configured: Bot) -> None:
    bot = configured
    await with_stages(bot, stage("slow", "--sleep", "30", timeout_s=1))
    await bot.say("create payments-api v2", user_id=DEV)
    await bot.say("deploy payments-api v2 to staging", user_id=DEV)
    final = await final_message(bot, "D-1", ": failed")
    assert "timed out" in json.dumps(final["blocks"])

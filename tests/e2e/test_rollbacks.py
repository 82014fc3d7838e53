"""Rollbacks, cancellations and incidents through signed commands, the Roll back button and the real pipeline
runner, down to the Slack calls, the store and the audit log."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from core.model import DeploymentStatus, StageSpec
from handlers import ids
from storage.rows import AuditRow, DeploymentRow, IncidentRow, LockRow, ReleaseRow, RollbackRow
from tests.e2e.conftest import ADMIN, DEV, SECRET, Bot
from tests.support.ci_fake import CiFake
from tests.support.slack_requests import FORM, block_actions, signed_headers

CAROL = "U0CAROL003"
CHANNEL = "C0PAYMENTS1"
FAILS = StageSpec("deploy", command=[sys.executable, "-c", "import sys; print('migration failed'); sys.exit(3)"])
WORKS = StageSpec("deploy", command=[sys.executable, "-c", "print('deployed')"])
HANGS = StageSpec("deploy", command=[sys.executable, "-c", "import time; time.sleep(60)"])
CI_SECRET = "ci-secret-production"


async def set_stages(bot: Bot, *stages: StageSpec, secret: str | None = None) -> None:
    async with bot.runtime.uow() as uow:
        production = await uow.environments.get("production")
        assert production is not None
        await uow.environments.upsert(
            replace(production, stages=list(stages), webhook_secret=secret), now=bot.runtime.clock()
        )
        await uow.commit()


async def wait_status(bot: Bot, deployment_id: int, status: DeploymentStatus, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with bot.runtime.uow() as uow:
            deployment = await uow.deployments.get(deployment_id)
        if deployment is not None and deployment.status is status:
            return
        assert time.monotonic() < deadline, f"D-{deployment_id} is {deployment and deployment.status}, not {status}"
        await asyncio.sleep(0.05)


async def wait_stage_running(bot: Bot, deployment_id: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with bot.runtime.uow() as uow:
            stages = await uow.stages.for_deployment(deployment_id)
        if stages and stages[0].status.value == "running":
            return
        assert time.monotonic() < deadline, "the stage never started"
        await asyncio.sleep(0.05)


def card_ts(bot: Bot, reference: str) -> str:
    """The ts of the deployment's message in the service's channel."""
    for message in bot.fake.messages(CHANNEL):
        if f"*{reference}*" in json.dumps(message.get("blocks", [])):
            return str(message["ts"])
    raise AssertionError(f"no message for {reference}")


def card(bot: Bot, reference: str) -> str:
    return json.dumps(bot.fake.message(CHANNEL, card_ts(bot, reference))["blocks"])


async def audit_rows(bot: Bot) -> list[tuple[str, str, str | None]]:
    async with bot.runtime.uow() as uow:
        rows = await uow.session.execute(select(AuditRow.actor, AuditRow.action, AuditRow.target).order_by(AuditRow.id))
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def statuses(bot: Bot) -> dict[int, tuple[str, str, int | None]]:
    async with bot.runtime.uow() as uow:
        rows = await uow.session.execute(
            select(DeploymentRow.id, DeploymentRow.status, DeploymentRow.kind, DeploymentRow.rollback_of_id)
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows.all()}


@pytest.fixture
async def failed(configured: Bot) -> Bot:
    """payments-api v1 runs in production (D-1); v2's deploy stage failed there (D-2)."""
    bot = configured
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await set_stages(bot, FAILS)
    await bot.say("create payments-api v2", user_id=DEV)
    answer = await bot.say("deploy payments-api v2 to production", user_id=DEV)
    assert answer.startswith(
        ":arrows_counterclockwise: D-2: *payments-api* `v2` to *production* (was `v1`): running"
    ), answer
    await wait_status(bot, 2, DeploymentStatus.FAILED)
    await bot.settle()
    return bot


async def test_the_roll_back_button_of_a_failed_deployment_goes_back_to_the_last_good_version(failed: Bot) -> None:
    bot = failed
    text = card(bot, "D-2")
    assert "D-2* payments-api `v2` \\u2192 *production*: failed" in text and ids.ACTION_ROLLBACK in text
    await set_stages(bot, WORKS)
    _, key = await bot.click(ids.ACTION_ROLLBACK, "D-2", user_id=DEV, channel=CHANNEL, ts=card_ts(bot, "D-2"))
    assert await bot.ephemeral(key) == (
        ":rewind: D-3 rolls back *payments-api* in *production* from `v2` (D-2) to `v1`: running. Release `v2` is "
        f"marked bad. Posted in <#{CHANNEL}>.\n"
        ":lock: L-1: *payments-api* in *production* is locked for you until you unlock it: "
        "`/release unlock production payments-api`."
    )
    await wait_status(bot, 3, DeploymentStatus.SUCCESS)
    await bot.settle()
    rolled = card(bot, "D-2")
    assert "D-2* payments-api `v2` \\u2192 *production*: rolled back" in rolled
    assert f":rewind: Rolled back by <@{DEV}> with D-3" in rolled and ids.ACTION_ROLLBACK not in rolled
    rollback = card(bot, "D-3")
    assert "D-3* payments-api `v1` \\u2192 *production*: deployed" in rollback
    assert f":rewind: Rollback of D-2 by <@{DEV}>" in rollback and "`v2` \\u2192 `v1`" in rollback
    notice = await bot.fake.wait_for(
        "chat.postMessage", lambda c: c.args.get("channel") == CHANNEL and "locked" in c.args.get("text", "")
    )
    assert notice[0].args["text"] == (
        f":lock: <@{DEV}> locked *payments-api* in *production* until they unlock it: rollback of D-2 (v2) with D-3"
    )
    assert await statuses(bot) == {
        1: ("success", "deploy", None),
        2: ("rolled_back", "deploy", None),
        3: ("success", "rollback", 2),
    }
    async with bot.runtime.uow() as uow:
        row = (await uow.session.execute(select(RollbackRow))).scalar_one()
        assert (row.from_deployment_id, row.to_release_id, row.deployment_id, row.initiated_by, row.reason) == (
            2,
            1,
            3,
            DEV,
            None,
        )
        bad = (await uow.session.execute(select(ReleaseRow.version).where(ReleaseRow.status == "bad"))).scalars()
        assert list(bad) == ["v2"]
    trail = await audit_rows(bot)
    click = trail.index((DEV, "button.click", "D-2"))
    assert trail[click + 1 :] == [
        (DEV, "deployment.request", "D-3"),
        (DEV, "deployment.rollback", "D-2"),
        (DEV, "release.bad", "R-2"),
        (DEV, "lock.create", "L-1"),
        ("releasebot", "stage.success", "D-3"),
        ("releasebot", "deployment.success", "D-3"),
    ]


async def click_stale(bot: Bot, blocks: list[dict[str, Any]], ts: str, user_id: str, key: str) -> None:
    """A click on a button of the message as it was shown before the bot updated it."""
    body = block_actions(
        ids.ACTION_ROLLBACK,
        "D-2",
        user_id=user_id,
        channel_id=CHANNEL,
        message_ts=ts,
        blocks=blocks,
        response_url=bot.fake.response_url(key),
    )
    await bot.post(body, signed_headers(body, SECRET, content_type=FORM))


async def test_a_second_click_on_roll_back_changes_nothing(failed: Bot) -> None:
    bot = failed
    ts = card_ts(bot, "D-2")
    shown = bot.fake.message(CHANNEL, ts)["blocks"]
    _, first = await bot.click(ids.ACTION_ROLLBACK, "D-2", user_id=DEV, channel=CHANNEL, ts=ts)
    assert (await bot.ephemeral(first)).startswith(":rewind: D-3 rolls back")
    await click_stale(bot, shown, ts, ADMIN, "stale-1")
    assert await bot.ephemeral("stale-1") == (
        "payments-api has an active deployment to production: D-3 (payments-api `v1`, requested by "
        f"<@{DEV}>, running).\nCancel it first (`/release cancel D-3`), or wait for it to finish."
    )
    await wait_status(bot, 3, DeploymentStatus.FAILED)
    await click_stale(bot, shown, ts, ADMIN, "stale-2")
    assert await bot.ephemeral("stale-2") == f"D-2 was already rolled back with D-3 by <@{DEV}>."
    async with bot.runtime.uow() as uow:
        rollbacks = (await uow.session.execute(select(RollbackRow))).scalars().all()
        assert len(rollbacks) == 1


async def test_a_bad_release_is_deployed_again_only_with_an_override(failed: Bot) -> None:
    bot = failed
    await set_stages(bot, WORKS)
    answer = await bot.say("rollback payments-api production reason migration <!here> broke", user_id=DEV)
    assert answer.startswith(":rewind: D-3 rolls back *payments-api* in *production* from `v2` (D-2) to `v1`")
    await wait_status(bot, 3, DeploymentStatus.SUCCESS)
    refused = await bot.say("deploy payments-api v2 to production", user_id=DEV)
    assert refused.startswith(
        f"payments-api `v2` is marked bad: <@{DEV}> rolled back D-2 to `v1` with D-3 on <!date^"
    ), refused
    assert refused.endswith(
        ": migration &lt;!here&gt; broke.\nDeploy another version, or if you must: `/release deploy payments-api v2 "
        "to production --override-bad <reason>`."
    )
    answer = await bot.say("deploy payments-api v2 to production --override-bad fixed the migration", user_id=DEV)
    assert answer.startswith(":arrows_counterclockwise: D-4: *payments-api* `v2` to *production*"), answer
    await wait_status(bot, 4, DeploymentStatus.SUCCESS)
    await bot.settle()
    assert f":warning: Release marked bad, deployed anyway by <@{DEV}>: fixed the migration" in card(bot, "D-4")
    trail = await audit_rows(bot)
    assert (DEV, "bypass.bad_release", "D-4") in trail


async def test_rollback_by_command_to_a_named_version_and_the_lock_stops_others(configured: Bot) -> None:
    bot = configured
    for version in ("v1", "v2", "v3"):
        await bot.say(f"create payments-api {version}", user_id=DEV)
        await bot.say(f"deploy payments-api {version} to production", user_id=DEV)
    answer = await bot.say("rollback payments-api production to v1 reason ledger drift", user_id=DEV)
    assert answer == (
        ":rewind: D-4 rolls back *payments-api* in *production* from `v3` (D-3) to `v1`: deployed. Release `v3` is "
        f"marked bad. Posted in <#{CHANNEL}>.\n"
        ":lock: L-1: *payments-api* in *production* is locked for you until you unlock it: "
        "`/release unlock production payments-api`."
    )
    await bot.settle()
    notice = await bot.fake.wait_for("chat.postMessage", lambda c: "locked" in c.args.get("text", ""))
    assert notice[0].args["channel"] == CHANNEL
    assert (
        notice[0].args["text"]
        == f":lock: <@{DEV}> locked *payments-api* in *production* until they unlock it: ledger drift"
    )
    await bot.say(f"user <@{CAROL}|carol> role developer")
    blocked = await bot.say("rollback payments-api production", user_id=CAROL)
    assert blocked == (
        f"production is locked for payments-api by <@{DEV}> until unlocked: ledger drift.\n"
        "Ask the owner to unlock it (`/release unlock ...`), or wait until it expires."
    )
    assert await bot.say("rollback payments-api production to v9", user_id=DEV) == (
        "`payments-api` has no release `v9`.\nCreate it first: `/release create payments-api v9 commit <sha>`."
    )
    again = await bot.say("rollback payments-api production --no-lock", user_id=DEV)
    assert again == (
        ":rewind: D-5 rolls back *payments-api* in *production* from `v1` (D-4) to `v2`: deployed. Release `v1` is "
        f"marked bad. Posted in <#{CHANNEL}>."
    )
    async with bot.runtime.uow() as uow:
        assert len((await uow.session.execute(select(LockRow))).scalars().all()) == 1


async def test_cancel_a_deployment_waiting_for_approval(configured: Bot) -> None:
    bot = configured
    await bot.say("policy production approvals 1 by admin")
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await bot.settle()
    assert await bot.say("cancel D-1", user_id=DEV) == (
        ":heavy_multiplication_x: D-1 (payments-api `v1` → production) is cancelled."
    )
    await bot.settle()
    text = card(bot, "D-1")
    assert "D-1* payments-api `v1` \\u2192 *production*: cancelled" in text
    assert f'"text": "cancelled by <@{DEV}>"' in text and '"actions"' not in text
    assert await bot.say("cancel D-1", user_id=DEV) == (
        "D-1 is already cancelled: only a deployment that is waiting, queued or running can be cancelled."
    )
    assert (DEV, "deployment.cancel", "D-1") in await audit_rows(bot)


async def test_cancel_a_running_command_stage_stops_the_process(configured: Bot) -> None:
    bot = configured
    await set_stages(bot, HANGS)
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await wait_stage_running(bot, 1)
    assert await bot.say("cancel D-1", user_id=ADMIN) == (
        ":heavy_multiplication_x: Cancelling D-1 (payments-api `v1` → production): stopping stage *deploy*. Its "
        "message says when it is done."
    )
    await wait_status(bot, 1, DeploymentStatus.CANCELLED)
    await bot.settle()
    text = card(bot, "D-1")
    assert "D-1* payments-api `v1` \\u2192 *production*: cancelled" in text
    assert f'"text": "cancelled by <@{ADMIN}>"' in text and ":heavy_multiplication_x: deploy" in text
    dm = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == DEV)
    assert dm[-1].args["text"] == (
        f"Your deployment D-1 of payments-api `v1` to *production*: cancelled by <@{ADMIN}>."
    )
    trail = await audit_rows(bot)
    assert (ADMIN, "deployment.cancel", "D-1") in trail
    assert ("releasebot", "stage.cancelled", "D-1") in trail and ("releasebot", "deployment.cancelled", "D-1") in trail


@pytest.fixture
async def ci() -> AsyncIterator[CiFake]:
    async with CiFake(CI_SECRET) as fake:
        yield fake


async def test_cancel_a_running_webhook_stage_cancels_at_once_and_tells_ci(configured: Bot, ci: CiFake) -> None:
    bot = configured
    await set_stages(bot, StageSpec("ci", "webhook", url=ci.url), secret=CI_SECRET)
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await ci.wait_for(lambda r: r.payload.get("stage") == "ci")
    assert await bot.say("cancel D-1", user_id=DEV) == (
        ":heavy_multiplication_x: D-1 (payments-api `v1` → production) is cancelled."
    )
    (told,) = await ci.wait_for(lambda r: r.is_cancel)
    assert told.payload == {"deployment": "D-1", "stage": "ci", "action": "cancel"} and told.refused is None
    await bot.settle()
    async with bot.runtime.uow() as uow:
        deployment = await uow.deployments.get(1)
        stages = await uow.stages.for_deployment(1)
    assert deployment is not None and deployment.status is DeploymentStatus.CANCELLED
    assert [(s.status.value, s.reason) for s in stages] == [("cancelled", f"cancelled by <@{DEV}>")]
    await asyncio.sleep(0.5)
    assert len([r for r in ci.received if r.is_cancel]) == 1


async def test_incidents_are_attributed_resolved_and_announced(configured: Bot) -> None:
    bot = configured
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    assert await bot.say("incident D-1 checkout <!here> errors", user_id=DEV) == (
        ":fire: Incident attributed to D-1 (payments-api `v1` → production), opened now. "
        "`/release incident resolve D-1` when it is over."
    )
    second = await bot.say("incident D-1 again", user_id=ADMIN)
    assert second.startswith(f"D-1 already has an incident, opened by <@{DEV}> on <!date^")
    assert second.endswith(
        ", still open: checkout &lt;!here&gt; errors.\n"
        "One incident per deployment. `/release incident resolve D-1` resolves it."
    )
    resolved = await bot.say("incident resolve D-1", user_id=ADMIN)
    assert resolved.startswith(":white_check_mark: The incident on D-1 (payments-api `v1` → production) is resolved, ")
    await bot.settle()
    texts = [m.get("text", "") for m in bot.fake.messages(CHANNEL)]
    assert (
        f":fire: <@{DEV}> attributed an incident to D-1 (*payments-api* `v1` in *production*): checkout &lt;!here&gt; errors"
        in texts
    )
    assert any(t.startswith(f":white_check_mark: <@{ADMIN}> resolved the incident on D-1") for t in texts)
    async with bot.runtime.uow() as uow:
        incident = (await uow.session.execute(select(IncidentRow))).scalar_one()
        assert (incident.opened_by, incident.resolved_by, incident.note) == (DEV, ADMIN, "checkout <!here> errors")
    trail = await audit_rows(bot)
    assert (DEV, "incident.open", "D-1") in trail and (ADMIN, "incident.resolve", "D-1") in trail

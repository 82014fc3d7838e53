"""Signed /release commands through the real aiohttp app, against the recording fake Slack."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from storage.rows import DeploymentRow, ProcessedRequestRow, ReleaseRow
from tests.e2e.conftest import DEV, SECRET, Bot
from tests.support.slack_requests import signed_headers

FORM = "application/x-www-form-urlencoded"


async def count(bot: Bot, column: object) -> int:
    async with bot.runtime.uow() as work:
        return int((await work.session.execute(select(func.count(column)))).scalar_one())


async def test_create_and_deploy_posts_to_the_service_channel(configured: Bot) -> None:
    bot = configured
    reply, answer = await bot.command("create payments-api v1.4.2 commit 9f3c2ab notes Faster refunds", user_id=DEV)
    assert reply.status == 200 and reply.body == ""
    assert answer is not None and answer["response_type"] == "ephemeral"
    assert answer["text"] == "Created R-1: *payments-api* `v1.4.2` at `9f3c2ab`.\n>Faster refunds"

    answer_text = await bot.say("deploy payments-api v1.4.2 to staging", user_id=DEV)
    assert answer_text == (
        ":white_check_mark: D-1: *payments-api* `v1.4.2` to *staging* (first deployment there): success. "
        "Posted in <#C0PAYMENTS1>."
    )
    posts = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "C0PAYMENTS1")
    assert posts[0].args["text"] == "D-1: payments-api v1.4.2 to staging: deployed"
    async with bot.runtime.uow() as work:
        deployment = await work.deployments.get(1)
        assert deployment is not None
        assert (deployment.status.value, deployment.requested_by, deployment.environment) == ("success", DEV, "staging")


async def test_status_shows_the_version_per_environment(configured: Bot) -> None:
    bot = configured
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    text = await bot.say("status")
    assert text == "*payments-api*  staging: `v1`  ·  production: —"


async def test_second_deploy_reports_the_previous_version_and_updates_nothing_else(configured: Bot) -> None:
    bot = configured
    for version in ("v1", "v2"):
        await bot.say(f"create payments-api {version}", user_id=DEV)
        await bot.say(f"deploy payments-api {version} to staging", user_id=DEV)
    await bot.settle()
    posts = bot.fake.calls_to("chat.postMessage")
    assert len([p for p in posts if p.args.get("channel") == "C0PAYMENTS1"]) == 2
    assert "`v1` \\u2192 `v2`" in json.dumps(posts[-1].args["blocks"])


async def test_unsigned_badly_signed_and_stale_requests_are_refused(configured: Bot) -> None:
    bot = configured
    before = await count(bot, ReleaseRow.id)
    body, _ = bot.slash_body("create payments-api v9")
    unsigned = await bot.post(body, {"Content-Type": FORM})
    wrong = await bot.post(body, signed_headers(body, "not-the-secret", content_type=FORM))
    stale = await bot.post(body, signed_headers(body, SECRET, content_type=FORM, ts=1767225600))
    tampered = await bot.post(body + b"x", signed_headers(body, SECRET, content_type=FORM))
    assert [r.status for r in (unsigned, wrong, stale, tampered)] == [401, 401, 401, 401]
    await bot.settle()
    assert await count(bot, ReleaseRow.id) == before
    assert bot.fake.calls_to("response_url") == [
        c for c in bot.fake.calls_to("response_url") if "v9" not in json.dumps(c.args)
    ]


async def test_a_slack_retry_of_the_same_request_changes_nothing_more(configured: Bot) -> None:
    bot = configured
    await bot.say("create payments-api v1", user_id=DEV)
    body, key = bot.slash_body("deploy payments-api v1 to staging", user_id=DEV)
    first = await bot.post(body, signed_headers(body, SECRET, content_type=FORM))
    await bot.fake.wait_for("response_url", lambda c: c.args.get("response_url_id") == key)
    retry = await bot.post(body, signed_headers(body, SECRET, content_type=FORM, retry_num=1))
    assert (first.status, retry.status) == (200, 200)
    await bot.settle()
    assert await count(bot, DeploymentRow.id) == 1
    assert len(bot.fake.calls_to("response_url")) == 7  # five set-up answers, the create, the deploy
    posts = [c for c in bot.fake.calls_to("chat.postMessage") if c.args.get("channel") == "C0PAYMENTS1"]
    assert len(posts) == 1


async def test_bad_input_gets_a_precise_message_and_stores_nothing(configured: Bot) -> None:
    bot = configured
    before_requests = await count(bot, ProcessedRequestRow.request_key)
    cases = {
        "frobnicate": "I don't know the command `frobnicate`.",
        "deploy payments-api": "Missing the version.",
        "deploy payments-api v1 to staging now": "Unexpected `now`.",
        "deploy nope v1 to staging": "There is no service `nope`.",
        "deploy payments-api v1 to moon": "There is no environment `moon`.",
        "deploy payments-api v1 to staging": "`payments-api` has no release `v1`.",
        "create payments-api v1..2/x": "is not a valid version",
        "user <@U0CAROL003|carol> role emperor": "`emperor` is not a role",
    }
    for text, expected in cases.items():
        answer = await bot.say(text, user_id=DEV if "user" not in text else "U0ALICE001")
        assert expected in answer, (text, answer)
    assert await count(bot, DeploymentRow.id) == 0
    assert await count(bot, ReleaseRow.id) == 0
    # refused commands leave no trace in the request ledger either, so a corrected retry works
    assert await count(bot, ProcessedRequestRow.request_key) == before_requests


async def test_duplicate_version_is_refused(configured: Bot) -> None:
    bot = configured
    await bot.say("create payments-api v1", user_id=DEV)
    answer = await bot.say("create payments-api v1", user_id=DEV)
    assert answer.startswith("`payments-api` `v1` already exists (R-1, created by <@U0BOB00002>).")


async def test_viewer_is_refused_configuration_and_the_denial_is_audited(configured: Bot) -> None:
    bot = configured
    answer = await bot.say("env add qa", user_id="U0DAVE0004")
    assert answer.startswith(
        "You can't manage configuration (teams, services, environments, users, policies): your role is viewer."
    )
    async with bot.runtime.uow() as work:
        assert await work.environments.get("qa") is None
        from storage.rows import AuditRow

        actions = [row.action for row in (await work.session.execute(select(AuditRow))).scalars()]
    assert actions[-1] == "permission.denied"


async def test_slack_control_sequences_in_user_text_are_escaped(configured: Bot) -> None:
    bot = configured
    answer = await bot.say(
        "create payments-api v1 notes hi <!channel> see <http://evil.example|docs> & <@U0DAVE0004>", user_id=DEV
    )
    assert "<!channel>" not in answer and "&lt;!channel&gt;" in answer
    assert "&lt;http://evil.example|docs&gt;" in answer and "&amp;" in answer
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    posts = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "C0PAYMENTS1")
    rendered = json.dumps(posts[0].args["blocks"])
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered


async def test_help_lists_only_what_the_caller_may_do(configured: Bot) -> None:
    bot = configured
    viewer_help = await bot.say("help", user_id="U0DAVE0004")
    admin_help = await bot.say("help")
    assert "/release status" in viewer_help and "/release deploy" not in viewer_help
    assert "/release env add" in admin_help and "/release deploy" in admin_help


async def test_health_and_readiness(bot: Bot) -> None:
    health = await bot.http.get(bot.server.make_url("/healthz"))
    ready = await bot.http.get(bot.server.make_url("/readyz"))
    assert health.status == 200 and ready.status == 200
    assert (await ready.json())["status"] == "ok"


async def test_a_command_mentioning_payload_is_still_a_slash_command(configured: Bot) -> None:
    answer = await configured.say("create payments-api v7 notes payload=fix for the payload parser", user_id=DEV)
    assert answer == "Created R-1: *payments-api* `v7`.\n>payload=fix for the payload parser"

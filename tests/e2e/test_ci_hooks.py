"""CI callbacks through the real aiohttp app: every bad callback is refused, audited, and changes nothing;
a good one moves the pipeline, and a repeat of it changes nothing more."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from core import signing
from core.model import AuditEntry, AuditFilter, DeploymentStatus, Source, StageSpec
from tests.e2e.conftest import DEV, Bot
from tests.support.ci_fake import CiFake, callback_body, post_signed

CI_SECRET = "ci-secret-staging"


@pytest.fixture
async def ci() -> AsyncIterator[CiFake]:
    async with CiFake(CI_SECRET) as fake:
        yield fake


@pytest.fixture
async def pipeline(configured: Bot, ci: CiFake) -> Bot:
    """Staging runs two webhook stages, build then deploy; D-1 is deploying v1 and CI has the build stage."""
    bot = configured
    async with bot.runtime.uow() as uow:
        staging = await uow.environments.get("staging")
        assert staging is not None
        stages = [StageSpec("build", "webhook", url=ci.url), StageSpec("deploy", "webhook", url=ci.url)]
        await uow.environments.upsert(
            replace(staging, stages=stages, webhook_secret=CI_SECRET), now=bot.runtime.clock()
        )
        await uow.commit()
    await bot.say("create payments-api v1", user_id=DEV)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    await ci.wait_for(lambda r: r.payload.get("stage") == "build")
    return bot


def base_url(bot: Bot) -> str:
    return str(bot.server.make_url("/")).rstrip("/")


def hook_url(bot: Bot, reference: str = "D-1") -> str:
    return f"{base_url(bot)}/hooks/deployments/{reference}"


async def snapshot(bot: Bot, deployment_id: int = 1) -> tuple[Any, ...]:
    async with bot.runtime.uow() as uow:
        deployment = await uow.deployments.get(deployment_id)
        stages = await uow.stages.for_deployment(deployment_id, with_output=True)
    assert deployment is not None
    return deployment.status, [(s.name, s.status, s.output, s.reason) for s in stages]


async def refusals(bot: Bot) -> list[AuditEntry]:
    async with bot.runtime.uow() as uow:
        entries = await uow.audit.search(AuditFilter(action="webhook.refused"), limit=100)
    return list(reversed(entries))


async def refused(
    bot: Bot, reply: tuple[int, dict[str, Any]], status: int, error: str, reference: str | None = "D-1"
) -> None:
    """The answer has the status and error, and the refusal is the newest audit entry, from CI."""
    code, answer = reply
    assert (code, answer["ok"]) == (status, False), answer
    assert answer["error"] == error
    last = (await refusals(bot))[-1]
    assert (last.actor, last.source, last.target) == ("ci", Source.WEBHOOK, reference)
    assert last.details["reason"] == error


async def test_an_unsigned_callback_is_refused_and_audited(pipeline: Bot) -> None:
    bot = pipeline
    before = await snapshot(bot)
    reply = await post_signed(hook_url(bot), None, callback_body("build", "success"))
    await refused(bot, reply, 401, "missing signature headers")
    assert await snapshot(bot) == before


async def test_a_callback_signed_with_another_secret_is_refused_and_audited(pipeline: Bot) -> None:
    bot = pipeline
    before = await snapshot(bot)
    reply = await post_signed(hook_url(bot), "not-the-secret", callback_body("build", "success"))
    await refused(bot, reply, 401, "signature mismatch")
    assert await snapshot(bot) == before


async def test_a_tampered_callback_is_refused(pipeline: Bot) -> None:
    bot = pipeline
    before = await snapshot(bot)
    signed = signing.headers(CI_SECRET, int(time.time()), callback_body("build", "failed"))
    reply = await post_signed(
        hook_url(bot),
        CI_SECRET,
        callback_body("build", "success"),
        timestamp=int(signed[signing.TIMESTAMP_HEADER]),
        signature=signed[signing.SIGNATURE_HEADER],
    )
    await refused(bot, reply, 401, "signature mismatch")
    assert await snapshot(bot) == before


@pytest.mark.parametrize("offset", [-600, 600])
async def test_a_stale_callback_is_refused_and_audited(pipeline: Bot, offset: int) -> None:
    bot = pipeline
    before = await snapshot(bot)
    reply = await post_signed(
        hook_url(bot), CI_SECRET, callback_body("build", "success"), timestamp=int(time.time()) + offset
    )
    await refused(bot, reply, 401, "stale timestamp")
    assert await snapshot(bot) == before


async def test_a_replayed_callback_is_refused_and_audited(pipeline: Bot) -> None:
    bot = pipeline
    body = callback_body("build", "running")
    ts = int(time.time())
    first = await post_signed(hook_url(bot), CI_SECRET, body, timestamp=ts)
    assert first == (200, {"ok": True, "changed": False})
    before = await snapshot(bot)
    replay = await post_signed(hook_url(bot), CI_SECRET, body, timestamp=ts)
    await refused(bot, replay, 401, "replayed")
    assert await snapshot(bot) == before


@pytest.mark.parametrize("reference", ["D-999", "R-1", "nonsense", "D-99999999999999999999"])
async def test_a_callback_for_an_unknown_deployment_is_a_404(pipeline: Bot, reference: str) -> None:
    bot = pipeline
    before = await snapshot(bot)
    reply = await post_signed(hook_url(bot, reference), CI_SECRET, callback_body("build", "success"))
    target = reference if reference == "D-999" else None
    await refused(bot, reply, 404, f"unknown deployment {reference}", reference=target)
    assert await snapshot(bot) == before


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        (b"{not json", "body", "the body is not JSON"),
        (b"\xff\xfe", "body", "the body is not JSON"),
        (b"[1, 2]", "body", "the body must be a JSON object"),
        (b'{"status": "success"}', "stage", "`stage` must be a non-empty string"),
        (b'{"stage": "build", "status": "done"}', "status", "`status` must be one of running, success, failed"),
        (b'{"stage": "build", "status": "success", "output": 5}', "output", "`output` must be a string"),
        (b'{"stage": "build", "status": "failed", "message": ["x"]}', "message", "`message` must be a string"),
    ],
)
async def test_a_malformed_callback_is_a_400_naming_the_field(
    pipeline: Bot, body: bytes, field: str, error: str
) -> None:
    bot = pipeline
    before = await snapshot(bot)
    reply = await post_signed(hook_url(bot), CI_SECRET, body)
    await refused(bot, reply, 400, error)
    assert reply[1]["field"] == field
    assert await snapshot(bot) == before


async def test_output_over_a_million_characters_is_refused(pipeline: Bot) -> None:
    bot = pipeline
    before = await snapshot(bot)
    reply = await post_signed(hook_url(bot), CI_SECRET, callback_body("build", "success", "x" * 1_000_001))
    await refused(bot, reply, 400, "`output` is longer than 1000000 characters")
    assert reply[1]["field"] == "output"
    assert await snapshot(bot) == before


async def test_a_body_too_large_to_read_is_refused(pipeline: Bot) -> None:
    bot = pipeline
    before = await snapshot(bot)
    reply = await post_signed(hook_url(bot), CI_SECRET, b"x" * (8 * 1024 * 1024 + 1))
    await refused(bot, reply, 413, f"the body is larger than {8 * 1024 * 1024} bytes")
    assert await snapshot(bot) == before


async def test_a_callback_for_a_stage_that_is_not_running_is_a_409(pipeline: Bot) -> None:
    bot = pipeline
    before = await snapshot(bot)
    pending = await post_signed(hook_url(bot), CI_SECRET, callback_body("deploy", "success"))
    await refused(bot, pending, 409, "stage deploy of D-1 is pending, not running")
    unknown = await post_signed(hook_url(bot), CI_SECRET, callback_body("test", "success"))
    await refused(bot, unknown, 409, "D-1 has no stage test")
    assert await snapshot(bot) == before


async def test_a_callback_for_an_earlier_attempt_is_a_409(pipeline: Bot) -> None:
    bot = pipeline
    before = await snapshot(bot)
    reply = await post_signed(hook_url(bot), CI_SECRET, callback_body("build", "success", attempt="old"))
    await refused(bot, reply, 409, "stage build of D-1 was started again since that attempt")
    assert await snapshot(bot) == before


async def test_a_failed_stage_fails_the_deployment_and_later_callbacks_are_refused(pipeline: Bot) -> None:
    bot = pipeline
    failed = await post_signed(
        hook_url(bot), CI_SECRET, callback_body("build", "failed", "compile error", message="tests failed")
    )
    assert failed == (200, {"ok": True, "changed": True})
    after = await snapshot(bot)
    assert after[0] is DeploymentStatus.FAILED
    assert after[1][0][1:] == ("failed", "compile error", "tests failed")
    retry = await post_signed(hook_url(bot), CI_SECRET, callback_body("build", "failed", "compile error"))
    assert retry == (200, {"ok": True, "changed": False})
    late = await post_signed(hook_url(bot), CI_SECRET, callback_body("deploy", "success"))
    await refused(bot, late, 409, "D-1 already finished (failed)")
    flip = await post_signed(hook_url(bot), CI_SECRET, callback_body("build", "success"))
    await refused(bot, flip, 409, "D-1 already finished (failed)")
    assert await snapshot(bot) == after


async def test_stages_reported_by_ci_complete_the_deployment_once(pipeline: Bot, ci: CiFake) -> None:
    bot = pipeline
    (build,) = ci.accepted
    assert build.payload["callback_url"].endswith("/hooks/deployments/D-1")
    running = await ci.report(base_url(bot), "D-1", "build", "running", "compiling\n")
    assert running[0] == 200
    built = await ci.report(base_url(bot), "D-1", "build", "success", attempt=build.payload["attempt"])
    assert built == (200, {"ok": True, "changed": True})
    again = await ci.report(base_url(bot), "D-1", "build", "success")
    assert again == (200, {"ok": True, "changed": False})
    (deploy,) = await ci.wait_for(lambda r: r.payload.get("stage") == "deploy")
    assert deploy.payload["position"] == 1 and deploy.refused is None

    # CI reports the last stage from a separate process, as a CI job would.
    answer = await report_from_another_process(hook_url(bot), "deploy", "success", "deployed\n")
    assert answer == {"status": 200, "answer": {"ok": True, "changed": True}}
    status, stages = await snapshot(bot)
    assert status is DeploymentStatus.SUCCESS
    assert [(name, stage_status) for name, stage_status, *_ in stages] == [("build", "success"), ("deploy", "success")]
    assert stages[0][2] == "compiling\n" and stages[1][2] == "deployed\n"
    # A CI retry: the same report, signed again at another time.
    retried = callback_body("deploy", "success", "deployed\n")
    repeat = await post_signed(hook_url(bot), CI_SECRET, retried, timestamp=int(time.time()) - 30)
    assert repeat == (200, {"ok": True, "changed": False})
    assert await refusals(bot) == []
    async with bot.runtime.uow() as uow:
        reported = await uow.audit.search(AuditFilter(action="stage."), limit=10)
    assert [(e.action, e.actor, e.source, e.details["stage"]) for e in reversed(reported)] == [
        ("stage.success", "ci", Source.WEBHOOK, "build"),
        ("stage.success", "ci", Source.WEBHOOK, "deploy"),
    ]
    await bot.settle()


async def report_from_another_process(url: str, stage: str, status: str, output: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.ci_fake",
        "--report",
        url,
        "--secret",
        CI_SECRET,
        "--stage",
        stage,
        "--status",
        status,
        "--output",
        output,
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    return dict(json.loads(stdout))

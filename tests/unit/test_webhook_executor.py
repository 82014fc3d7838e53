"""The webhook executor against the fake CI: signed requests, retries, failure reasons, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.executors.webhook import WebhookExecutor
from core import signing
from core.execution import StageRun
from core.model import StageSpec, StageStatus
from tests.support.ci_fake import CiFake

SECRET = "ci-secret-staging"
CALLBACK = "http://127.0.0.1:9/hooks/deployments/D-42"


@pytest.fixture
async def ci() -> AsyncIterator[CiFake]:
    async with CiFake(SECRET) as fake:
        yield fake


@pytest.fixture
async def executor() -> AsyncIterator[WebhookExecutor]:
    async with aiohttp.ClientSession() as session:
        yield WebhookExecutor(session, backoff_s=0.01)


def stage(url: str | None, *, secret: str | None = SECRET, callback: str | None = CALLBACK) -> StageRun:
    return StageRun(
        deployment_id=42,
        reference="D-42",
        service="payments-api",
        version="v1.4.2",
        commit="abc1234",
        environment="staging",
        position=1,
        spec=StageSpec(name="deploy", executor="webhook", url=url, timeout_s=900),
        callback_url=callback,
        secret=secret,
        attempt_id="attempt-1",
    )


async def test_a_signed_request_is_handed_to_ci_and_waits_for_its_callback(
    ci: CiFake, executor: WebhookExecutor
) -> None:
    result = await executor.run(stage(ci.url), asyncio.Event())
    assert result.status is None and result.reason is None
    (received,) = ci.received
    assert received.refused is None and received.status == 202
    assert received.payload == {
        "deployment": "D-42",
        "service": "payments-api",
        "version": "v1.4.2",
        "commit": "abc1234",
        "environment": "staging",
        "stage": "deploy",
        "position": 1,
        "attempt": "attempt-1",
        "callback_url": CALLBACK,
    }
    assert received.headers[signing.SIGNATURE_HEADER].startswith("v0=")
    assert received.headers["Content-Type"] == "application/json"


async def test_ci_refuses_a_request_signed_with_another_secret(ci: CiFake, executor: WebhookExecutor) -> None:
    result = await executor.run(stage(ci.url, secret="not-the-secret"), asyncio.Event())
    assert result.status is StageStatus.FAILED and result.reason == "CI answered 401"
    (received,) = ci.received
    assert received.refused == "signature mismatch"


async def test_a_503_is_tried_again_and_then_succeeds(ci: CiFake, executor: WebhookExecutor) -> None:
    ci.fail_next(2, status=503)
    result = await executor.run(stage(ci.url), asyncio.Event())
    assert result.status is None
    assert [r.status for r in ci.received] == [503, 503, 202]
    assert all(r.refused is None for r in ci.received)


async def test_ci_failing_three_times_fails_the_stage_with_its_answer(ci: CiFake, executor: WebhookExecutor) -> None:
    ci.fail_always(503)
    result = await executor.run(stage(ci.url), asyncio.Event())
    assert result.status is StageStatus.FAILED and result.reason == "CI answered 503"
    assert len(ci.received) == 3


async def test_a_client_error_is_not_tried_again(ci: CiFake, executor: WebhookExecutor) -> None:
    ci.fail_next(1, status=404)
    result = await executor.run(stage(ci.url), asyncio.Event())
    assert result.status is StageStatus.FAILED and result.reason == "CI answered 404"
    assert len(ci.received) == 1


async def test_ci_out_of_reach_fails_the_stage_after_three_attempts(ci: CiFake, executor: WebhookExecutor) -> None:
    url = ci.url
    await ci.__aexit__(None, None, None)
    result = await executor.run(stage(url), asyncio.Event())
    assert result.status is StageStatus.FAILED
    assert result.reason is not None and result.reason.startswith("could not reach CI")


async def test_cancelling_during_the_backoff_cancels_the_stage(ci: CiFake) -> None:
    ci.fail_always(503)
    cancelled = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(WebhookExecutor(session, backoff_s=30).run(stage(ci.url), cancelled))
        await ci.wait_for()
        cancelled.set()
        result = await asyncio.wait_for(task, 5)
    assert result.status is StageStatus.CANCELLED


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (stage(None), "stage deploy has no url configured"),
        (stage("http://127.0.0.1:9/x", secret=None), "environment staging has no webhook secret to sign"),
        (stage("http://127.0.0.1:9/x", callback=None), "no callback address for CI"),
    ],
)
async def test_a_stage_that_cannot_be_handed_to_ci_fails_without_a_request(
    executor: WebhookExecutor, run: StageRun, reason: str
) -> None:
    result = await executor.run(run, asyncio.Event())
    assert result.status is StageStatus.FAILED and result.reason is not None
    assert result.reason.startswith(reason)


async def test_cancel_tells_ci_with_a_signed_request(ci: CiFake, executor: WebhookExecutor) -> None:
    await executor.cancel(stage(ci.url))
    (received,) = await ci.wait_for(lambda r: r.is_cancel)
    assert received.refused is None
    assert received.payload == {"deployment": "D-42", "stage": "deploy", "action": "cancel"}


async def test_cancel_that_ci_refuses_is_only_logged(ci: CiFake, executor: WebhookExecutor) -> None:
    ci.fail_always(500)
    await executor.cancel(stage(ci.url))
    assert [r.status for r in ci.received] == [500]


async def test_an_executor_without_a_session_leaves_no_session_open(ci: CiFake) -> None:
    executor = WebhookExecutor()
    assert (await executor.run(stage(ci.url), asyncio.Event())).status is None
    await executor.cancel(stage(ci.url))
    assert [r.is_cancel for r in await ci.wait_for(count=2)] == [False, True]


async def test_a_session_factory_is_used_for_each_request(ci: CiFake) -> None:
    async with aiohttp.ClientSession() as session:
        made: list[aiohttp.ClientSession] = []

        def factory() -> aiohttp.ClientSession:
            made.append(session)
            return session

        executor = WebhookExecutor(factory)
        assert (await executor.run(stage(ci.url), asyncio.Event())).status is None
    assert made == [session]

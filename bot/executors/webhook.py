"""Hands a stage to CI: a signed JSON POST to the stage's URL; CI reports back on the callback URL.

The request is signed like Slack signs its requests, with the environment's webhook secret, so CI can tell it
comes from this bot. A 2xx means CI took the stage (the result waits for CI's callback); a 5xx, 408, 429 or
connection error is tried again with backoff, up to three attempts; any other answer fails the stage at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import structlog

from core import signing
from core.execution import StageResult, StageRun
from core.model import StageStatus

log = structlog.get_logger(__name__)

RETRIED_STATUSES = frozenset({408, 429})


class CiRefused(Exception):
    """CI could not be reached or did not take the request; the message is the stage's failure reason."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


def stage_payload(run: StageRun) -> dict[str, Any]:
    return {
        "deployment": run.reference,
        "service": run.service,
        "version": run.version,
        "commit": run.commit,
        "environment": run.environment,
        "stage": run.spec.name,
        "position": run.position,
        "attempt": run.attempt_id,
        "callback_url": run.callback_url,
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookExecutor:
    """``session`` is a ClientSession or a factory for one (the caller closes it); without either, each
    stage start and each cancellation uses a short-lived session of its own, so nothing is left to close."""

    def __init__(
        self,
        session: aiohttp.ClientSession | Callable[[], aiohttp.ClientSession] | None = None,
        *,
        attempts: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.clock = clock

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[aiohttp.ClientSession]:
        if isinstance(self._session, aiohttp.ClientSession):
            yield self._session
        elif self._session is not None:
            yield self._session()
        else:
            async with aiohttp.ClientSession() as session:
                yield session

    async def run(self, run: StageRun, cancelled: asyncio.Event) -> StageResult:
        problem = _unusable(run)
        if problem is not None:
            return StageResult(StageStatus.FAILED, reason=problem)
        body = encode(stage_payload(run))
        async with self._http() as http:
            return await self._hand_over(http, run, body, cancelled)

    async def _hand_over(
        self, http: aiohttp.ClientSession, run: StageRun, body: bytes, cancelled: asyncio.Event
    ) -> StageResult:
        assert run.spec.url is not None and run.secret is not None
        reason = ""
        for attempt in range(1, self.attempts + 1):
            if cancelled.is_set():
                return StageResult(StageStatus.CANCELLED, reason="cancelled")
            try:
                status = await self._post(http, run.spec.url, run.secret, body)
                log.info("stage handed to CI", deployment=run.reference, stage=run.spec.name, status=status)
                return StageResult(None, details={"ci_status": str(status)})
            except CiRefused as refused:
                reason = refused.reason
                log.warning("CI did not take the stage", deployment=run.reference, attempt=attempt, reason=reason)
                if not refused.retry or attempt == self.attempts:
                    break
            if await _wait(cancelled, self.backoff_s * 2 ** (attempt - 1)):
                return StageResult(StageStatus.CANCELLED, reason="cancelled")
        return StageResult(StageStatus.FAILED, reason=reason)

    async def cancel(self, run: StageRun) -> None:
        """Best effort: tell CI to stop; a failure is logged, never raised."""
        if run.spec.url is None or not run.secret:
            return
        body = encode({"deployment": run.reference, "stage": run.spec.name, "action": "cancel"})
        try:
            async with self._http() as http:
                await self._post(http, run.spec.url, run.secret, body)
        except CiRefused as refused:
            log.warning("CI was not told of the cancellation", deployment=run.reference, reason=refused.reason)

    async def _post(self, http: aiohttp.ClientSession, url: str, secret: str, body: bytes) -> int:
        """One signed POST; the signature is fresh each time so a retry is never stale."""
        headers = {"Content-Type": "application/json", **signing.headers(secret, int(self.clock()), body)}
        try:
            async with http.post(url, data=body, headers=headers, timeout=self.timeout) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            raise CiRefused(f"CI did not answer within {self.timeout.total:g}s", retry=True) from None
        except aiohttp.ClientError as error:
            raise CiRefused(f"could not reach CI ({type(error).__name__})", retry=True) from None
        if 200 <= status < 300:
            return status
        raise CiRefused(f"CI answered {status}", retry=status >= 500 or status in RETRIED_STATUSES)


def _unusable(run: StageRun) -> str | None:
    if not run.spec.url:
        return f"stage {run.spec.name} has no url configured"
    if not run.secret:
        return f"environment {run.environment} has no webhook secret to sign the request with"
    if not run.callback_url:
        return "no callback address for CI: set RELEASEBOT_PUBLIC_URL"
    return None


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep, waking early when ``event`` is set; True when it was."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True

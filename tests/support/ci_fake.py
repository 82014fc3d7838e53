"""A fake CI: receives the bot's signed stage requests and calls the bot back, signed with the same secret.

In a test::

    async with CiFake(SECRET) as ci:
        spec = StageSpec("build", executor="webhook", url=ci.url)
        ...
        (request,) = await ci.wait_for(lambda r: r.payload["stage"] == "build")
        status, answer = await ci.report(bot_url, "D-1", "build", "success", "built")

From another process (a CI job calling back on its own)::

    python -m tests.support.ci_fake --report http://127.0.0.1:PORT/hooks/deployments/D-1 \\
        --secret S --stage build --status success --output "built"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from core import signing

STAGE_PATH = "/stages"


@dataclass(frozen=True)
class Received:
    """One request from the bot, and whether its signature held (``refused`` says why not)."""

    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    status: int
    refused: str | None = None

    @property
    def is_cancel(self) -> bool:
        return self.payload.get("action") == "cancel"


def callback_body(
    stage: str, status: str, output: str | None = None, message: str | None = None, **extra: Any
) -> bytes:
    payload: dict[str, Any] = {"stage": stage, "status": status, **extra}
    if output is not None:
        payload["output"] = output
    if message is not None:
        payload["message"] = message
    return json.dumps(payload).encode()


async def post_signed(
    url: str,
    secret: str | None,
    body: bytes,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
    session: ClientSession | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` signed with ``secret`` (None: unsigned); ``timestamp``/``signature`` override the headers."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        ts = int(time.time()) if timestamp is None else timestamp
        headers.update(signing.headers(secret, ts, body))
        if signature is not None:
            headers[signing.SIGNATURE_HEADER] = signature
    own = session is None
    http = session or ClientSession(timeout=ClientTimeout(total=30))
    try:
        async with http.post(url, data=body, headers=headers) as response:
            text = await response.text()
            try:
                answer = json.loads(text)
            except ValueError:
                answer = {"text": text}
            return response.status, answer
    finally:
        if own:
            await http.close()


class CiFake:
    """Serves ``POST /stages`` on 127.0.0.1 (ephemeral port); answers 202, or what ``fail_next`` asked for."""

    def __init__(self, secret: str, *, now: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.now = now
        self.received: list[Received] = []
        self._failures: list[int] = []
        self._always: int | None = None
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{STAGE_PATH}"

    @property
    def accepted(self) -> list[Received]:
        """Correctly signed stage requests CI took (cancellations and refusals left out)."""
        return [r for r in self.received if r.refused is None and r.status < 300 and not r.is_cancel]

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status``."""
        self._failures.extend([status] * count)

    def fail_always(self, status: int | None = 503) -> None:
        """Answer every request with ``status`` from now on (None: back to normal)."""
        self._always = status

    def _answer(self) -> int:
        if self._failures:
            return self._failures.pop(0)
        return self._always or 202

    async def __aenter__(self) -> CiFake:
        app = web.Application()
        app.router.add_post(STAGE_PATH, self._stage)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = ClientSession(timeout=ClientTimeout(total=30))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _stage(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        try:
            signing.verify(
                self.secret,
                request.headers.get(signing.TIMESTAMP_HEADER),
                request.headers.get(signing.SIGNATURE_HEADER),
                body,
                self.now(),
            )
            refused = None
        except signing.BadSignature as error:
            refused = error.reason
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        status = 401 if refused else self._answer()
        await self._record(Received(payload, body, headers, status, refused))
        return web.json_response({"ok": status < 300}, status=status)

    async def _record(self, received: Received) -> None:
        async with self._changed:
            self.received.append(received)
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Received], bool] = lambda _: True, *, count: int = 1, timeout: float = 10.0
    ) -> list[Received]:
        """The first ``count`` received requests matching ``predicate``, waiting for them if need be."""

        def matching() -> list[Received]:
            return [r for r in self.received if predicate(r)]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(matching()) >= count), timeout)
            return matching()[:count]

    async def report(
        self,
        bot_url: str,
        reference: str,
        stage: str,
        status: str,
        output: str | None = None,
        message: str | None = None,
        **extra: Any,
    ) -> tuple[int, dict[str, Any]]:
        """Call the bot back at ``{bot_url}/hooks/deployments/{reference}``, signed with the secret."""
        url = f"{bot_url.rstrip('/')}/hooks/deployments/{reference}"
        body = callback_body(stage, status, output, message, **extra)
        return await post_signed(url, self.secret, body, session=self._session)


def main(argv: Sequence[str] | None = None) -> int:
    """Report a stage from a separate process; prints the bot's answer, exits 0 on a 2xx."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.ci_fake")
    parser.add_argument("--report", required=True, help="the callback URL, .../hooks/deployments/D-42")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--status", required=True, choices=["running", "success", "failed"])
    parser.add_argument("--output")
    parser.add_argument("--message")
    args = parser.parse_args(argv)
    body = callback_body(args.stage, args.status, args.output, args.message)
    status, answer = asyncio.run(post_signed(args.report, args.secret, body))
    print(json.dumps({"status": status, "answer": answer}))
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Answers to the person who acted, through the request's ``response_url``, on one shared HTTP session.

Bolt's own ``respond`` opens a new session (and TCP connection) for every answer; at a few hundred commands
per second that is a measurable share of the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog

log = structlog.get_logger(__name__)

Respond = Callable[..., Awaitable[Any]]


class ReplySession:
    def __init__(self, timeout_s: float = 10.0) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def responder(self, body: dict[str, Any], fallback: Respond) -> Respond:
        url = body.get("response_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return fallback

        async def respond(**payload: Any) -> None:
            for attempt in (1, 2):
                try:
                    async with self._open().post(url, json=payload) as answer:
                        if answer.status < 500:
                            if answer.status >= 400:
                                log.warning("response_url refused the answer", status=answer.status)
                            return
                except (aiohttp.ClientError, TimeoutError) as error:
                    if attempt == 2:
                        log.warning("answer not delivered", error=repr(error))
                        return

        return respond

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

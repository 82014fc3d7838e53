"""Outbox delivery: renders committed notifications and sends them to Slack, paced and retried.

One evolving message per ``message_key`` (posted once, then updated in place); ``thread_key`` threads a
reply under such a message. Messages to a channel the bot is not in go to the fallback channel, and the
admins are told. A message that keeps failing is retried with backoff, then given up and logged.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core import notify_prefs
from core.model import Notification
from core.ports import Clock, UnitOfWorkFactory
from handlers import blocks, ids, rendering
from handlers.tasks import Doorbell

log = structlog.get_logger(__name__)

CHANNEL_ERRORS = {"not_in_channel", "channel_not_found", "is_archived"}
PERMANENT_ERRORS = {
    "invalid_blocks",
    "invalid_arguments",
    "msg_too_long",
    "no_text",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "missing_scope",
}


class DeliveryWorker:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        client: AsyncWebClient,
        clock: Clock,
        *,
        fallback_channel: str | None = None,
        admins: frozenset[str] = frozenset(),
        pace_s: float = 1.0,
        poll_s: float = 2.0,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 8,
        batch: int = 50,
    ) -> None:
        self.uow = uow
        self.client = client
        self.clock = clock
        self.fallback_channel = fallback_channel
        self.admins = admins
        self.pace_s = pace_s
        self.poll_s = poll_s
        self.lease = lease
        self.max_attempts = max_attempts
        self.batch = batch
        self.worker_id = f"delivery-{uuid.uuid4().hex[:8]}"
        self._wake = Doorbell()
        self._last_sent: dict[str, float] = {}
        self._stopping = False
        self._told_admins: set[str] = set()

    def wake(self) -> None:
        self._wake.ring()

    async def run(self) -> None:
        while not self._stopping:
            try:
                delivered = await self.deliver_due()
            except Exception:
                log.exception("delivery round failed")
                delivered = 0
            if delivered:
                continue
            await self._wake.wait(self.poll_s)

    def stop(self) -> None:
        self._stopping = True
        self._wake.ring()

    async def deliver_due(self) -> int:
        """Claim and send every due message once; returns how many were handled."""
        async with self.uow() as uow:
            claimed = await uow.outbox.claim(
                worker=self.worker_id, now=self.clock(), lease=self.lease, limit=self.batch
            )
            await uow.commit()
        if not claimed:
            return 0
        by_channel: dict[str, list[Notification]] = defaultdict(list)
        for notification in claimed:
            by_channel[notification.channel].append(notification)
        await asyncio.gather(*(self._deliver_channel(items) for items in by_channel.values()))
        return len(claimed)

    async def _deliver_channel(self, items: list[Notification]) -> None:
        for notification in items:
            if await self._withheld(notification):
                continue
            await self._pace(notification.channel)
            await self._deliver(notification)

    async def _withheld(self, notification: Notification) -> bool:
        """Marked done without sending when the notification preferences leave it out; when in doubt, sent."""
        assert notification.id is not None
        try:
            async with self.uow() as uow:
                reason = await notify_prefs.withheld(uow, notification)
                if reason is None:
                    return False
                await uow.outbox.mark_withheld(notification.id, reason=reason, now=self.clock())
                await uow.commit()
        except Exception:
            log.exception("notification preferences not read; sending", id=notification.id)
            return False
        log.info("notification withheld", id=notification.id, kind=notification.kind, reason=reason)
        return True

    async def _pace(self, channel: str) -> None:
        last = self._last_sent.get(channel)
        if last is not None:
            wait = self.pace_s - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_sent[channel] = time.monotonic()

    async def _deliver(self, notification: Notification) -> None:
        assert notification.id is not None
        try:
            channel, ts = await self._send(notification)
        except _NotReady as reason:
            await self._retry(notification, str(reason), delay=1.0, count=False)
            return
        except _Gone as reason:
            await self._retry(notification, str(reason), delay=0, give_up=True)
            return
        except SlackApiError as error:
            await self._failed(notification, error)
            return
        except Exception as error:  # network trouble after slack_sdk's own retries
            await self._retry(notification, repr(error), delay=self._backoff(notification))
            return
        async with self.uow() as uow:
            if notification.message_key:
                await uow.outbox.remember_message(notification.message_key, channel=channel, ts=ts, now=self.clock())
            await uow.outbox.mark_sent(notification.id, channel=channel, ts=ts, now=self.clock())
            await uow.commit()

    async def _send(self, notification: Notification, channel: str | None = None) -> tuple[str, str]:
        rendered = await rendering.render(self.uow, notification)
        if rendered is None:
            raise _Gone(f"{notification.kind}: nothing left to show")
        text, message_blocks = rendered
        target = channel or notification.channel
        if channel is not None:
            text, message_blocks = blocks.with_fallback_note((text, message_blocks), notification.channel)
        existing = None
        thread_ts = None
        async with self.uow() as uow:
            if notification.message_key:
                existing = await uow.outbox.message(notification.message_key)
            if notification.thread_key:
                parent = await uow.outbox.message(notification.thread_key)
                if parent is None:
                    raise _NotReady(f"thread parent {notification.thread_key} not posted yet")
                thread_ts, target = parent.ts, parent.channel
        if existing is not None:
            try:
                await self.client.chat_update(
                    channel=existing.channel, ts=existing.ts, text=text, blocks=message_blocks
                )
                return existing.channel, existing.ts
            except SlackApiError as error:
                if error.response.get("error") != "message_not_found":
                    raise
        args: dict[str, Any] = {"channel": target, "text": text, "blocks": message_blocks}
        if thread_ts:
            args["thread_ts"] = thread_ts
        response = await self.client.chat_postMessage(**args)
        return str(response["channel"]), str(response["ts"])

    def _backoff(self, notification: Notification) -> float:
        return float(min(2 ** (notification.attempts + 1), 300))

    async def _failed(self, notification: Notification, error: SlackApiError) -> None:
        code = str(error.response.get("error", ""))
        status = getattr(error.response, "status_code", 200)
        if code in CHANNEL_ERRORS and self.fallback_channel and self.fallback_channel != notification.channel:
            await self._fallback(notification, code)
            return
        if status == 429:
            retry_after = float(error.response.headers.get("Retry-After", "1") or 1)
            await self._retry(notification, f"ratelimited (Retry-After {retry_after})", delay=retry_after)
            return
        give_up = code in PERMANENT_ERRORS or code in CHANNEL_ERRORS
        if give_up:
            log.error("notification dropped", id=notification.id, kind=notification.kind, error=code)
        await self._retry(notification, code or repr(error), delay=self._backoff(notification), give_up=give_up)

    async def _fallback(self, notification: Notification, code: str) -> None:
        assert notification.id is not None and self.fallback_channel is not None
        try:
            channel, ts = await self._send(notification, channel=self.fallback_channel)
        except SlackApiError as error:
            await self._retry(
                notification,
                f"fallback failed: {error.response.get('error')}",
                delay=self._backoff(notification),
            )
            return
        async with self.uow() as uow:
            if notification.message_key:
                await uow.outbox.remember_message(notification.message_key, channel=channel, ts=ts, now=self.clock())
            await uow.outbox.mark_sent(notification.id, channel=channel, ts=ts, now=self.clock())
            if notification.channel not in self._told_admins:
                for admin in sorted(self.admins):
                    await uow.outbox.add(
                        Notification(
                            kind=ids.NOT_IN_CHANNEL_NOTE,
                            channel=admin,
                            data={
                                "channel": notification.channel,
                                "fallback": self.fallback_channel,
                                "error": code,
                            },
                        )
                    )
            await uow.commit()
        self._told_admins.add(notification.channel)
        self.wake()

    async def _retry(
        self,
        notification: Notification,
        error: str,
        *,
        delay: float,
        give_up: bool = False,
        count: bool = True,
    ) -> None:
        assert notification.id is not None
        give_up = give_up or (count and notification.attempts + 1 >= self.max_attempts)
        async with self.uow() as uow:
            await uow.outbox.mark_retry(
                notification.id, error=error, at=self.clock() + timedelta(seconds=delay), give_up=give_up
            )
            await uow.commit()
        log.warning(
            "notification delivery deferred",
            id=notification.id,
            error=error,
            retry_in_s=delay,
            gave_up=give_up,
        )


class _NotReady(Exception):
    pass


class _Gone(Exception):
    pass

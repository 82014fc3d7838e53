"""App Home: published when a person opens it, published again (debounced) when what it shows changes, and its
Approve and Reject buttons handled by the very listeners of the approval card.

Refreshes run beside the delivery worker, which every committed change already wakes: a round reads what
every Home shows alike once, renders each recent viewer's Home, and publishes the ones whose content
changed (a digest of the view is stored per person), each person at most once per interval. Recent
viewers and digests live in the database, so any process or replica may open, click or refresh, and a
conditional update lets exactly one of them publish a given change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.home import HomeData, HomeSnapshot, RefreshSchedule, home_for, snapshot
from core.model import Role
from core.ports import Clock, HomeViewer, UnitOfWork, UnitOfWorkFactory
from handlers import actions, ids
from handlers.deps import Deps
from handlers.home_blocks import home_view, view_digest
from handlers.tasks import Doorbell

log = structlog.get_logger(__name__)

Ack = Callable[..., Awaitable[None]]
PUBLISH_PACE_S = 0.6  # views.publish is Tier 4 (100+ per minute)
REFRESH_DELAY = timedelta(seconds=3)  # changes within this coalesce into one refresh
REFRESH_INTERVAL = timedelta(seconds=10)  # one person's Home is published at most this often by refreshes


class HomePublisher:
    """Renders and publishes one person's Home tab."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        client: AsyncWebClient,
        *,
        admins: Collection[str] = frozenset(),
        default_role: Role = Role.VIEWER,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.client = client
        self.admins = admins
        self.default_role = default_role

    async def data(self, work: UnitOfWork, snap: HomeSnapshot, user_id: str) -> HomeData:
        return await home_for(work, snap, user_id=user_id, admins=self.admins, default_role=self.default_role)

    async def publish(self, user_id: str, *, notice: str | None = None, opened: bool = False) -> None:
        """Publish now (the person is looking): on opening Home, or with the answer to a button pressed there."""
        now = self.clock()
        async with self.uow() as work:
            if opened:
                await work.home.opened(user_id, now=now)
            data = await self.data(work, await snapshot(work, now=now), user_id)
            await work.commit()
        plain = home_view(data)
        await self.client.views_publish(user_id=user_id, view=home_view(data, notice=notice) if notice else plain)
        async with self.uow() as work:
            await work.home.published(user_id, digest=view_digest(plain), now=now)
            await work.commit()


class HomeRefresher:
    """Publishes the changed Home views of recent viewers after changes, debounced by a ``RefreshSchedule``;
    every ``sweep_s`` it also looks without being told (time alone ends locks and starts freezes)."""

    def __init__(
        self,
        publisher: HomePublisher,
        schedule: RefreshSchedule,
        *,
        sweep_s: float = 60.0,
        pace_s: float = PUBLISH_PACE_S,
    ) -> None:
        self.publisher = publisher
        self.schedule = schedule
        self.sweep_s = sweep_s
        self.pace_s = pace_s
        self._doorbell = Doorbell()
        self._stopping = False
        self._last_publish = 0.0

    def changed(self) -> None:
        """Something was committed that a Home may show."""
        self.schedule.changed(self.publisher.clock())
        self._doorbell.ring()

    def stop(self) -> None:
        self._stopping = True
        self._doorbell.ring()

    async def run(self) -> None:
        next_sweep = time.monotonic() + self.sweep_s
        while not self._stopping:
            now = self.publisher.clock()
            if time.monotonic() >= next_sweep:
                self.schedule.again_at(now)
                next_sweep = time.monotonic() + self.sweep_s
            if self.schedule.take(now):
                try:
                    await self.refresh()
                except Exception:
                    log.exception("App Home refresh failed")
                continue
            due = self.schedule.seconds_until_due(now)
            wait = min(due if due is not None else self.sweep_s, next_sweep - time.monotonic())
            await self._doorbell.wait(max(wait, 0.05))

    async def refresh(self) -> int:
        """One round: publish each recent viewer's Home that changed; returns how many were published."""
        now = self.publisher.clock()
        async with self.publisher.uow() as work:
            viewers = await work.home.viewers(since=self.schedule.viewers_since(now))
            if not viewers:
                return 0
            snap = await snapshot(work, now=now)
        published = 0
        for viewer in viewers:
            try:
                published += await self._refresh_one(viewer, snap)
            except Exception:
                log.exception("App Home not refreshed", user=viewer.slack_user_id)
        return published

    async def _refresh_one(self, viewer: HomeViewer, snap: HomeSnapshot) -> int:
        now, user = snap.now, viewer.slack_user_id
        allowed = self.schedule.last_publish_allowed(now)
        if viewer.published_at is not None and viewer.published_at > allowed:
            self.schedule.again_at(viewer.published_at + self.schedule.interval)
            return 0
        async with self.publisher.uow() as work:
            view = home_view(await self.publisher.data(work, snap, user))
        digest = view_digest(view)
        if digest == viewer.digest:
            return 0
        async with self.publisher.uow() as work:
            claimed = await work.home.claim_publish(user, digest=digest, now=now, not_before=allowed)
            await work.commit()
        if not claimed:
            return 0
        await self._pace()
        try:
            await self.publisher.client.views_publish(user_id=user, view=view)
        except SlackApiError as error:
            status = getattr(error.response, "status_code", 200)
            if status == 429 or status >= 500:
                retry_after = float(error.response.headers.get("Retry-After", "0") or 0) if status == 429 else 0.0
                await self._again_later(user, retry_after, str(error.response.get("error", status)))
            else:  # a refusal that trying again would only repeat: the next change tries again
                log.warning("App Home refused", user=user, error=str(error.response.get("error", "")))
            return 0
        except (aiohttp.ClientError, TimeoutError) as error:
            await self._again_later(user, 0.0, repr(error))
            return 0
        return 1

    async def _pace(self) -> None:
        wait = self.pace_s - (time.monotonic() - self._last_publish)
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_publish = time.monotonic()

    async def _again_later(self, user: str, retry_after: float, error: str) -> None:
        """Forget what was claimed, so that a round after the interval (or Slack's Retry-After) tries again."""
        now = self.publisher.clock()
        async with self.publisher.uow() as work:
            await work.home.published(user, digest=None, now=now)
            await work.commit()
        self.schedule.again_at(now + max(self.schedule.interval, timedelta(seconds=retry_after)))
        log.warning("App Home not published; trying again later", user=user, error=error)


def home_reply(publisher: HomePublisher, user_id: str) -> Callable[..., Awaitable[None]]:
    """Where the answer to a button pressed on Home goes: on top of Home, published again at once."""

    async def respond(**payload: Any) -> None:
        try:
            await publisher.publish(user_id, notice=str(payload.get("text") or "") or None)
        except SlackApiError as error:
            log.warning("App Home answer not published", user=user_id, error=str(error.response.get("error", "")))

    return respond


async def _from_home(body: dict[str, Any]) -> bool:
    return (body.get("container") or {}).get("type") == "view" and (body.get("view") or {}).get("type") == "home"


def _publisher(deps: Deps, client: AsyncWebClient) -> HomePublisher:
    return HomePublisher(deps.uow, deps.clock, client, admins=deps.admins, default_role=deps.default_role)


async def _opened(publisher: HomePublisher, user_id: str) -> None:
    try:
        await publisher.publish(user_id, opened=True)
    except SlackApiError as error:
        log.warning("App Home not published", user=user_id, error=str(error.response.get("error", "")))


def register(app: AsyncApp, deps: Deps) -> None:
    """Register before ``handlers.actions``: Bolt runs the first listener that matches, so clicks on Home come
    here and reach the card's own handlers with an answer that goes to Home (there is no response URL)."""

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = str(event.get("user") or "")
        if event.get("tab") != "home" or not user_id:
            return
        deps.tasks.spawn(_opened(_publisher(deps, client), user_id))

    @app.action(ids.ACTION_APPROVE, matchers=[_from_home])
    async def approve_on_home(ack: Ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id", ""))
        deps.tasks.spawn(actions.on_approve(deps, body, home_reply(_publisher(deps, client), user_id)))

    @app.action(ids.ACTION_REJECT, matchers=[_from_home])
    async def reject_on_home(ack: Ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id", ""))
        respond = home_reply(_publisher(deps, client), user_id)
        deps.tasks.spawn(actions.on_reject_click(deps, body, client, respond))


def home_refresher(
    uow: UnitOfWorkFactory,
    clock: Clock,
    client: AsyncWebClient,
    *,
    admins: Collection[str],
    default_role: Role,
    paced: bool = True,
) -> HomeRefresher:
    publisher = HomePublisher(uow, clock, client, admins=admins, default_role=default_role)
    schedule = RefreshSchedule(delay=REFRESH_DELAY, interval=REFRESH_INTERVAL)
    return HomeRefresher(publisher, schedule, pace_s=PUBLISH_PACE_S if paced else 0.0)

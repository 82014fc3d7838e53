"""The composition root: settings in, a running bot (store, Slack client, Bolt app, delivery) out."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import aiohttp
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.scheduler import build_scheduler
from bot.settings import Settings
from bot.slack_app import build_bolt_app
from core.execution import StageExecutor
from core.model import Source
from core.ports import UnitOfWorkFactory
from handlers.app_home import HomeRefresher, home_refresher
from handlers.delivery import DeliveryWorker
from handlers.deps import Deps
from handlers.pipeline import PipelineRunner
from storage.engine import create_engine, session_factory
from storage.schema import schema_status, upgrade
from storage.uow import unit_of_work_factory

log = structlog.get_logger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Executors(dict[str, StageExecutor]):
    """The executors, built the first time a stage needs one (most deployments run none)."""

    def __missing__(self, kind: str) -> StageExecutor:
        if kind == "command":
            from bot.executors.command import CommandExecutor

            self[kind] = CommandExecutor()
        elif kind == "webhook":
            from bot.executors.webhook import WebhookExecutor

            self[kind] = WebhookExecutor()
        else:
            raise KeyError(kind)
        return self[kind]

    def get(self, kind: str, default: StageExecutor | None = None) -> StageExecutor | None:  # type: ignore[override]
        try:
            return self[kind]
        except KeyError:
            return default


def build_executors() -> dict[str, StageExecutor]:
    return _Executors()


class SchemaOutOfDate(Exception):
    pass


def make_client(token: str | None, base_url: str) -> AsyncWebClient:
    client = AsyncWebClient(token=token, base_url=base_url, timeout=15)
    client.retry_handlers.extend(
        [
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ]
    )
    if not any(isinstance(h, AsyncConnectionErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(AsyncConnectionErrorRetryHandler(max_retry_count=2))
    return client


class Runtime:
    """Owns the engine, the Slack client, the Bolt app and the delivery worker; ``start`` then ``stop``."""

    engine: AsyncEngine
    uow: UnitOfWorkFactory
    bolt: AsyncApp
    delivery: DeliveryWorker
    home: HomeRefresher
    deps: Deps

    def __init__(
        self,
        settings: Settings,
        *,
        client: AsyncWebClient | None = None,
        clock: Callable[[], datetime] = utc_now,
        source: Source = Source.SLACK,
        signing_secret: str | None = None,
        pace_s: float = 1.0,
        poll_s: float = 2.0,
        migrate: bool | None = None,
        executors: Mapping[str, StageExecutor] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.source = source
        self._own_client = client is None
        self.client = client or make_client(settings.slack_bot_token, settings.slack_api_base_url)
        self.signing_secret = signing_secret if signing_secret is not None else settings.slack_signing_secret
        self.pace_s = pace_s
        self.poll_s = poll_s
        url = settings.database_url_resolved
        self.is_sqlite = url.startswith("sqlite")
        self.migrate = self.is_sqlite if migrate is None else migrate
        self._delivery_task: asyncio.Task[None] | None = None
        self._pipeline_task: asyncio.Task[None] | None = None
        self._home_task: asyncio.Task[None] | None = None
        self.executors = executors
        self.scheduler: AsyncIOScheduler | None = None

    async def start(self, *, deliver: bool = True, schedule: bool = False, run_pipeline: bool = True) -> None:
        self.engine = create_engine(self.settings.database_url_resolved, pool_size=self.settings.db_pool_size)
        if self.migrate:
            await upgrade(self.engine)
        else:
            status = await schema_status(self.engine)
            if not status.is_current:
                await self.engine.dispose()
                raise SchemaOutOfDate(
                    f"the database schema is at {status.current or 'nothing'}, this version needs {status.head}: "
                    "run `releasebot db upgrade` first"
                )
        self.uow = unit_of_work_factory(session_factory(self.engine), self.clock)
        if self._own_client and self.client.session is None:
            # One HTTP session for every Web API call (slack_sdk opens one per call otherwise).
            self.client.session = aiohttp.ClientSession()
        self.delivery = DeliveryWorker(
            self.uow,
            self.client,
            self.clock,
            fallback_channel=self.settings.fallback_channel,
            admins=frozenset(self.settings.admins),
            pace_s=self.pace_s,
            poll_s=self.poll_s,
        )
        self.home = home_refresher(
            self.uow,
            self.clock,
            self.client,
            admins=frozenset(self.settings.admins),
            default_role=self.settings.default_role,
            paced=self.pace_s > 0,
        )
        self.deps = Deps(
            uow=self.uow,
            clock=self.clock,
            admins=frozenset(self.settings.admins),
            default_role=self.settings.default_role,
            source=self.source,
            wake_delivery=self._committed,
            slack=self.client,
            timezone=self.settings.timezone.key,
        )
        self.bolt = build_bolt_app(client=self.client, signing_secret=self.signing_secret, deps=self.deps)
        self.pipeline = PipelineRunner(
            self.deps,
            self.executors if self.executors is not None else build_executors(),
            callback_base_url=self.settings.callback_base_url,
            poll_s=self.poll_s,
        )
        self.deps.wake_pipeline = self.pipeline.wake
        if deliver:
            self._delivery_task = asyncio.get_running_loop().create_task(self.delivery.run())
        if run_pipeline:
            self._pipeline_task = asyncio.get_running_loop().create_task(self.pipeline.run())
        if deliver:  # App Home refreshes run where delivery runs: every committed change wakes them
            self._home_task = asyncio.get_running_loop().create_task(self.home.run())
        # Everything loaded so far (libraries, the app) lives as long as the process: move it out of the
        # collector's sight, so full collections scan only new objects instead of stalling every request.
        gc.collect()
        gc.freeze()
        if schedule:
            self.scheduler = build_scheduler(self.deps, digest_grace=timedelta(seconds=self.settings.digest_grace))
            self.scheduler.start()

    def _committed(self) -> None:
        """Work was committed: deliver its messages, and look again at the App Home views it may change."""
        self.delivery.wake()
        self.home.changed()

    async def ready(self) -> tuple[bool, str]:
        """Database reachable and schema current."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            status = await schema_status(self.engine)
        except Exception as error:
            return False, f"database unreachable: {type(error).__name__}"
        if not status.is_current:
            return False, f"schema at {status.current}, expected {status.head}"
        return True, "ok"

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        await self.deps.tasks.drain(timeout=10)
        if self._pipeline_task is not None:
            await self.pipeline.stop()
            try:
                # The loop ends by itself once stopped; cancel it only if a claim is stuck.
                await asyncio.wait_for(self._pipeline_task, 10)
            except TimeoutError:
                self._pipeline_task.cancel()
                await asyncio.gather(self._pipeline_task, return_exceptions=True)
        if self._home_task is not None:
            self.home.stop()
            try:
                await asyncio.wait_for(self._home_task, 10)
            except TimeoutError:
                self._home_task.cancel()
        if self._delivery_task is not None:
            self.delivery.stop()
            try:
                await asyncio.wait_for(self._delivery_task, 10)
            except TimeoutError:
                self._delivery_task.cancel()
        await self.deps.replies.close()
        if self._own_client and self.client.session is not None:
            await self.client.session.close()
        await self.engine.dispose()

"""``releasebot serve``: HTTP on aiohttp, or Socket Mode when an app token is configured."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING

import structlog
from aiohttp import web
from slack_sdk.errors import SlackApiError

from bot.command_worker import WorkerLink
from bot.runtime import Runtime, SchemaOutOfDate
from bot.settings import Settings, settings_env
from bot.web import build_web_app

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

log = structlog.get_logger(__name__)


async def connect_socket_mode(runtime: Runtime, app_token: str) -> AsyncSocketModeHandler:
    """Connect ``runtime.bolt`` to Slack over Socket Mode.

    The WebSocket URL is fetched before connecting so that a token Slack refuses raises ``SlackApiError``
    here; the SDK's own connect loop would log the failure and retry forever.
    """
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(runtime.bolt, app_token)
    try:
        handler.client.wss_uri = await handler.client.issue_new_wss_url()
        await handler.connect_async()
    except BaseException:
        await handler.close_async()
        raise
    return handler


async def open_socket_mode(runtime: Runtime) -> AsyncSocketModeHandler | None:
    """The Socket Mode connection when SLACK_APP_TOKEN is set; None means HTTP (Slack posts to /slack/events)."""
    app_token = runtime.settings.slack_app_token
    return None if app_token is None else await connect_socket_mode(runtime, app_token)


async def serve(settings: Settings) -> int:
    if not settings.slack_configured:
        print(
            "releasebot: Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP) or "
            "SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode). For the offline console run `releasebot shell`.",
            file=sys.stderr,
        )
        return 2
    runtime = Runtime(settings)
    # The worker serves no HTTP: it takes every setting but the address.
    worker_env = settings_env(settings, leave_out=("host", "port"))
    worker = WorkerLink(env=worker_env) if settings.command_worker else None
    try:
        # With a command worker, it runs the commands, delivery, the pipeline and the schedule; this
        # process acknowledges requests and answers clicks and modals.
        await runtime.start(schedule=worker is None, deliver=worker is None, run_pipeline=worker is None)
    except SchemaOutOfDate as error:
        print(f"releasebot: {error}", file=sys.stderr)
        return 2
    if worker is not None:
        try:
            await worker.start()
        except (OSError, RuntimeError) as error:
            print(f"releasebot: {error}", file=sys.stderr)
            await runtime.stop()
            return 2
        runtime.deps.forward_command = worker.forward_command
        runtime.deps.wake_delivery = worker.wake
        runtime.deps.wake_pipeline = worker.wake
    runner = web.AppRunner(build_web_app(runtime), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    try:
        socket_handler = await open_socket_mode(runtime)
    except SlackApiError as error:
        print(
            f"releasebot: Slack refused the Socket Mode connection ({error.response.get('error')}): "
            "SLACK_APP_TOKEN must be an app-level token (xapp-...) with the connections:write scope",
            file=sys.stderr,
        )
        await runner.cleanup()
        await runtime.stop()
        if worker is not None:
            await worker.stop()
        return 2
    if socket_handler is not None:
        log.info("connected to Slack over Socket Mode; health on port", port=settings.port)
    else:
        log.info("serving Slack over HTTP", host=settings.host, port=settings.port, path="/slack/events")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    if socket_handler is not None:
        await socket_handler.close_async()
    await runner.cleanup()
    await runtime.stop()
    if worker is not None:
        await worker.stop()
    return 0

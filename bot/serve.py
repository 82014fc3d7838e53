"""``releasebot serve``: HTTP on aiohttp, or Socket Mode when an app token is configured."""

from __future__ import annotations

import asyncio
import signal
import sys

import structlog
from aiohttp import web

from bot.runtime import Runtime, SchemaOutOfDate
from bot.settings import Settings
from bot.web import build_web_app

log = structlog.get_logger(__name__)


async def serve(settings: Settings) -> int:
    if not settings.slack_configured:
        print(
            "releasebot: Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP) or "
            "SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode). For the offline console run `releasebot shell`.",
            file=sys.stderr,
        )
        return 2
    runtime = Runtime(settings)
    try:
        await runtime.start(schedule=True)
    except SchemaOutOfDate as error:
        print(f"releasebot: {error}", file=sys.stderr)
        return 2
    runner = web.AppRunner(build_web_app(runtime), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    socket_handler = None
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(runtime.bolt, settings.slack_app_token)
        await socket_handler.connect_async()
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
    return 0

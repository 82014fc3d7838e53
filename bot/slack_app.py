"""The Bolt app factory: one ``AsyncApp`` with every surface registered."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers import actions, commands
from handlers.deps import Deps


def build_bolt_app(*, client: AsyncWebClient, signing_secret: str | None, deps: Deps) -> AsyncApp:
    """``process_before_response=True``: listeners ack first and hand slow work to tracked tasks, which
    answers in about 1 ms instead of Bolt's 10 ms ack polling; it is also what FaaS-style hosting needs."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=True,
        request_verification_enabled=signing_secret is not None,
        ignoring_self_events_enabled=True,
        url_verification_enabled=True,
        ssl_check_enabled=True,
    )
    commands.register(app, deps)
    actions.register(app, deps)
    return app

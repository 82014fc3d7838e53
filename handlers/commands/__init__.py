"""The ``/release`` slash command: ack at once, then parse, run the use case and answer the caller."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from core import grammar
from core.errors import ReleasebotError
from core.model import Source
from core.syntax import Command
from handlers import blocks, ids
from handlers import perform as perform_module
from handlers.commands import (
    approvals,
    audit,
    configuration,
    digest,
    history,
    locks,
    metrics,
    notify,
    releases,
    rollbacks,
    runbooks,
)
from handlers.context import CommandContext, Registry
from handlers.deps import Deps
from handlers.forms import FormRegistry, form_for
from handlers.perform import perform

log = structlog.get_logger(__name__)

Respond = Callable[..., Awaitable[Any]]


HANDLERS: Registry = {
    **releases.HANDLERS,
    **history.HANDLERS,
    **approvals.HANDLERS,
    **rollbacks.HANDLERS,
    **locks.HANDLERS,
    **audit.HANDLERS,
    **configuration.HANDLERS,
    **runbooks.HANDLERS,
    **metrics.HANDLERS,
    **digest.HANDLERS,
    **notify.HANDLERS,
}


# Commands answered with a form: opened by the listener itself, with the command's trigger (see handlers.forms).
FORMS: FormRegistry = {
    **releases.FORMS,
    **runbooks.FORMS,
}


async def _dispatch(ctx: CommandContext, command: Command) -> blocks.Rendered:
    handler = HANDLERS.get(type(command))
    if handler is None:
        raise AssertionError(f"no handler for {type(command).__name__}")
    return await handler(ctx, command)


async def run_command(
    deps: Deps,
    *,
    user_id: str,
    text: str,
    request_id: str,
    user_name: str | None = None,
    body: dict[str, Any] | None = None,
) -> blocks.Rendered | None:
    """Run one ``/release`` command; returns the reply for the caller, or None for a repeated request."""
    try:
        command = grammar.parse(text)
    except ReleasebotError as error:
        return blocks.reply(error.render())

    async def work(ctx: CommandContext) -> blocks.Rendered:
        return await _dispatch(ctx, command)

    return await perform(
        deps, user_id=user_id, request_key=request_id, what=text, work=work, user_name=user_name, body=body
    )


async def answer(deps: Deps, body: dict[str, Any], respond: Respond) -> None:
    request_id = str(body.get("trigger_id") or uuid.uuid4())
    try:
        rendered = await run_command(
            deps,
            user_id=str(body.get("user_id", "")),
            text=str(body.get("text") or ""),
            request_id=request_id,
            user_name=body.get("user_name"),
            body=body,
        )
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("command failed", error_id=error_id, request_id=request_id)
        rendered = perform_module.unexpected_error_reply(error_id)
    if rendered is None:
        return
    text, reply_blocks = rendered
    await respond(text=text, blocks=reply_blocks, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command(ids.COMMAND)
    async def release_command(
        ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Respond, client: AsyncWebClient
    ) -> None:
        await ack()
        form = form_for(FORMS, body) if deps.source is Source.SLACK else None  # the console shows no forms
        if form is not None:
            opener, command = form
            deps.tasks.spawn(opener(deps, body, client, deps.replies.responder(body, respond), command))
            return
        if deps.forward_command is not None and deps.forward_command(body):
            return
        deps.tasks.spawn(answer(deps, body, deps.replies.responder(body, respond)))

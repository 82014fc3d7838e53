"""The ``/release`` slash command: ack at once, then parse, run the use case and answer the caller."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp

from core import grammar
from core.actors import resolve_actor
from core.audit import record
from core.errors import DuplicateRequest, PermissionDenied, ReleasebotError
from core.model import Actor
from core.syntax import Command
from handlers import blocks, ids
from handlers.commands import configuration, releases
from handlers.commands.context import CommandContext, Registry
from handlers.deps import Deps

log = structlog.get_logger(__name__)

Respond = Callable[..., Awaitable[Any]]


HANDLERS: Registry = {**releases.HANDLERS, **configuration.HANDLERS}


async def _dispatch(ctx: CommandContext, command: Command) -> blocks.Rendered:
    handler = HANDLERS.get(type(command))
    if handler is None:
        raise AssertionError(f"no handler for {type(command).__name__}")
    return await handler(ctx, command)


async def _audit_denial(deps: Deps, actor: Actor, error: PermissionDenied, text: str, request_id: str) -> None:
    async with deps.uow() as uow:
        await record(
            uow,
            actor=actor,
            action="permission.denied",
            target=None,
            now=deps.clock(),
            request_id=request_id,
            details={"command": text[:500], "reason": error.message},
        )
        await uow.commit()


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
    actor: Actor | None = None
    try:
        async with deps.uow() as uow:
            actor = await resolve_actor(
                uow,
                user_id=user_id,
                admins=deps.admins,
                default_role=deps.default_role,
                source=deps.source,
                name=user_name,
            )
            await uow.requests.claim(f"{deps.source.value}:{request_id}", now=deps.clock())
            ctx = CommandContext(
                uow=uow, actor=actor, deps=deps, request_id=request_id, now=deps.clock(), body=body or {}
            )
            rendered = await _dispatch(ctx, command)
            await uow.commit()
    except DuplicateRequest:
        log.info("repeated request ignored", request_id=request_id)
        return None
    except PermissionDenied as error:
        assert actor is not None
        await _audit_denial(deps, actor, error, text, request_id)
        return blocks.reply(error.render())
    except ReleasebotError as error:
        return blocks.reply(error.render())
    deps.wake_delivery()
    return rendered


def unexpected_error_reply(error_id: str) -> blocks.Rendered:
    return blocks.reply(
        f":warning: Something went wrong on my side and nothing was changed. Error id `{error_id}`: "
        "give it to your releasebot admin."
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
        rendered = unexpected_error_reply(error_id)
    if rendered is None:
        return
    text, reply_blocks = rendered
    await respond(text=text, blocks=reply_blocks, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command(ids.COMMAND)
    async def release_command(ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Respond) -> None:
        await ack()
        deps.tasks.spawn(answer(deps, body, respond))

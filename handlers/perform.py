"""Running one piece of user-initiated work in a unit of work, the same way for commands, clicks and
modal submissions: resolve the actor, recognise repeated requests, commit once, audit denials, and turn
refusals into a reply for the person who acted."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from core.actors import resolve_actor
from core.audit import record
from core.errors import DuplicateRequest, PermissionDenied, ReleasebotError
from core.model import Actor
from handlers import blocks
from handlers.context import CommandContext
from handlers.deps import Deps

log = structlog.get_logger(__name__)

Work = Callable[[CommandContext], Awaitable[blocks.Rendered]]


async def audit_denial(deps: Deps, actor: Actor, error: PermissionDenied, what: str, request_id: str) -> None:
    """A refused action is recorded in its own transaction: the refused work itself left nothing behind."""
    async with deps.uow() as uow:
        await record(
            uow,
            actor=actor,
            action="permission.denied",
            target=None,
            now=deps.clock(),
            request_id=request_id,
            details={"request": what[:500], "reason": error.message},
        )
        await uow.commit()


async def perform(
    deps: Deps,
    *,
    user_id: str,
    request_key: str,
    what: str,
    work: Work,
    user_name: str | None = None,
    body: dict[str, Any] | None = None,
) -> blocks.Rendered | None:
    """Returns the reply for the person, or None when the same request was already handled."""
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
            await uow.requests.claim(f"{deps.source.value}:{request_key}", now=deps.clock())
            ctx = CommandContext(
                uow=uow, actor=actor, deps=deps, request_id=request_key, now=deps.clock(), body=body or {}
            )
            rendered = await work(ctx)
            await uow.commit()
        for follow_up in ctx.follow_ups:
            rendered = await follow_up()
    except DuplicateRequest:
        log.info("repeated request ignored", request_id=request_key)
        return None
    except PermissionDenied as error:
        assert actor is not None
        await audit_denial(deps, actor, error, what, request_key)
        return blocks.reply(error.render())
    except ReleasebotError as error:
        return blocks.reply(error.render())
    deps.wake_delivery()
    deps.wake_pipeline()
    return rendered


def unexpected_error_reply(error_id: str) -> blocks.Rendered:
    return blocks.reply(
        f":warning: Something went wrong on my side and nothing was changed. Error id `{error_id}`: "
        "give it to your releasebot admin."
    )


async def perform_safely(deps: Deps, **kwargs: Any) -> blocks.Rendered | None:
    """``perform``, with an unexpected error logged under a correlation id the person is shown."""
    try:
        return await perform(deps, **kwargs)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("request failed", error_id=error_id, request_id=kwargs.get("request_key"))
        return unexpected_error_reply(error_id)

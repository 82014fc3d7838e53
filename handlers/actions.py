"""Buttons and modals of the deployment card: Approve, Reject (asks for the reason in a modal), Roll back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core import approvals, rollbacks
from core.errors import ReleasebotError
from core.text import parse_reference
from handlers import blocks, cards, ids
from handlers.audit_trail import audit_click
from handlers.commands.approvals import decision_reply
from handlers.commands.rollbacks import rollback_reply
from handlers.context import CommandContext
from handlers.deps import Deps
from handlers.perform import perform_safely

log = structlog.get_logger(__name__)

Ack = Callable[..., Awaitable[None]]
Respond = Callable[..., Awaitable[Any]]


def _clicked(body: dict[str, Any]) -> tuple[str, str]:
    action = (body.get("actions") or [{}])[0]
    return str(action.get("value", "")), str(action.get("action_ts") or body.get("trigger_id") or "")


async def _reply(respond: Respond, rendered: blocks.Rendered | None) -> None:
    if rendered is None:
        return
    text, reply_blocks = rendered
    await respond(text=text, blocks=reply_blocks, response_type="ephemeral", replace_original=False)


async def on_approve(deps: Deps, body: dict[str, Any], respond: Respond) -> None:
    await audit_click(deps, body)
    value, click_id = _clicked(body)
    user = body.get("user") or {}

    async def work(ctx: CommandContext) -> blocks.Rendered:
        deployment_id = parse_reference(value, "D")
        view = await approvals.approve(
            ctx.uow, actor=ctx.actor, deployment_id=deployment_id, now=ctx.now, request_id=ctx.request_id
        )
        return decision_reply(view, "approved")

    rendered = await perform_safely(
        deps,
        user_id=str(user.get("id", "")),
        request_key=f"click:{ids.ACTION_APPROVE}:{user.get('id')}:{click_id}",
        what=f"click Approve on {value}",
        work=work,
        user_name=user.get("username"),
        body=body,
    )
    await _reply(respond, rendered)


async def on_rollback(deps: Deps, body: dict[str, Any], respond: Respond) -> None:
    """The Roll back button of a failed deployment: that deployment goes back to the last good version."""
    await audit_click(deps, body)
    value, click_id = _clicked(body)
    user = body.get("user") or {}

    async def work(ctx: CommandContext) -> blocks.Rendered:
        outcome = await rollbacks.roll_back_deployment(
            ctx.uow,
            actor=ctx.actor,
            deployment_id=parse_reference(value, "D"),
            now=ctx.now,
            request_id=ctx.request_id,
        )
        service = await ctx.uow.services.get(outcome.deployment.service)
        return rollback_reply(outcome, service.slack_channel if service else "")

    rendered = await perform_safely(
        deps,
        user_id=str(user.get("id", "")),
        request_key=f"click:{ids.ACTION_ROLLBACK}:{user.get('id')}:{click_id}",
        what=f"click Roll back on {value}",
        work=work,
        user_name=user.get("username"),
        body=body,
    )
    await _reply(respond, rendered)


async def on_reject_click(deps: Deps, body: dict[str, Any], client: AsyncWebClient, respond: Respond) -> None:
    """Open the reason modal straight away (a trigger_id lives 3 seconds), then record the click."""
    value, _ = _clicked(body)
    try:
        parse_reference(value, "D")
        await client.views_open(trigger_id=body["trigger_id"], view=cards.reject_modal(value))
        await audit_click(deps, body)
    except (ReleasebotError, SlackApiError, KeyError) as error:
        log.warning("reject modal not opened", error=repr(error))
        await _reply(
            respond,
            blocks.reply(
                f"I couldn't open the rejection form. Reject from a message instead: `/release reject {value} <reason>`."
            ),
        )


async def on_reject_submit(deps: Deps, body: dict[str, Any]) -> dict[str, Any] | None:
    """Runs before the ack so that a refusal can be shown on the form; returns the ack's body."""
    view = body.get("view") or {}
    reference = str(view.get("private_metadata", ""))
    values = (view.get("state") or {}).get("values") or {}
    reason = str(((values.get(ids.BLOCK_REASON) or {}).get(ids.ACTION_REASON) or {}).get("value") or "").strip()
    if not reason:
        return {"response_action": "errors", "errors": {ids.BLOCK_REASON: "Say why you are rejecting it."}}
    user = body.get("user") or {}

    async def work(ctx: CommandContext) -> blocks.Rendered:
        result = await approvals.reject(
            ctx.uow,
            actor=ctx.actor,
            deployment_id=parse_reference(reference, "D"),
            reason=reason,
            now=ctx.now,
            request_id=ctx.request_id,
        )
        return decision_reply(result, "rejected")

    rendered = await perform_safely(
        deps,
        user_id=str(user.get("id", "")),
        request_key=f"view:{view.get('id')}:{view.get('hash')}",
        what=f"reject {reference} from the form",
        work=work,
        user_name=user.get("username"),
        body=body,
    )
    if rendered is None or rendered[0].startswith("You rejected"):
        return None
    return {"response_action": "errors", "errors": {ids.BLOCK_REASON: blocks.plain(rendered[0])[:150]}}


def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(ids.ACTION_APPROVE)
    async def approve_clicked(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        await ack()
        deps.tasks.spawn(on_approve(deps, body, deps.replies.responder(body, respond)))

    @app.action(ids.ACTION_ROLLBACK)
    async def rollback_clicked(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        await ack()
        deps.tasks.spawn(on_rollback(deps, body, deps.replies.responder(body, respond)))

    @app.action(ids.ACTION_REJECT)
    async def reject_clicked(ack: Ack, body: dict[str, Any], client: AsyncWebClient, respond: Respond) -> None:
        await ack()
        deps.tasks.spawn(on_reject_click(deps, body, client, deps.replies.responder(body, respond)))

    @app.view(ids.VIEW_REJECT)
    async def reject_submitted(ack: Ack, body: dict[str, Any]) -> None:
        response = await on_reject_submit(deps, body)
        if response is None:
            await ack()
        else:
            await ack(**response)

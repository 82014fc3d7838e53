"""The runbook form and the buttons that show a runbook.

Both open a modal with a trigger Slack honours for 3 seconds, so each opens a placeholder first, before any
database work, then loads what it shows into it (``views.update``), as ``handlers.forms`` describes. The
form's submission is checked before the ack, so that problems show on the form's own fields.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from core import runbooks
from core.errors import PermissionDenied, ReleasebotError
from core.model import Runbook
from core.runbooks import RunbookDraft, SavedRunbook
from core.text import parse_reference, truncate
from core.verbs.runbooks import OpenRunbookForm
from handlers import blocks, forms, ids, runbook_blocks
from handlers.audit_trail import audit_click
from handlers.context import CommandContext
from handlers.deps import Deps
from handlers.perform import audit_denial, perform_safely

log = structlog.get_logger(__name__)

Ack = Callable[..., Awaitable[None]]
Respond = Callable[..., Awaitable[Any]]

FALLBACK = "Type the command again."
SHOW_ACTION = re.compile(rf"^{re.escape(ids.ACTION_RUNBOOK_SHOW)}(:\d+)?$")
FIELD_BLOCKS = {
    runbooks.TITLE: ids.BLOCK_RUNBOOK_TITLE,
    runbooks.CONTENT: ids.BLOCK_RUNBOOK_CONTENT,
    runbooks.SERVICE: ids.BLOCK_RUNBOOK_SERVICE,
    runbooks.ENVIRONMENT: ids.BLOCK_RUNBOOK_ENVIRONMENT,
    runbooks.TAGS: ids.BLOCK_RUNBOOK_TAGS,
}


async def _load_form(deps: Deps, body: dict[str, Any], command: OpenRunbookForm, title: str) -> dict[str, Any]:
    """The form (new or prefilled), or a view saying why it can't be used; refusals are audited."""
    user = {"id": body.get("user_id"), "username": body.get("user_name")}
    async with deps.uow() as uow:
        actor = await forms.actor_of(deps, uow, user)
        try:
            form = await runbooks.runbook_form(uow, actor=actor, runbook_id=command.runbook_id)
        except ReleasebotError as error:
            denied = error
        else:
            return runbook_blocks.form_modal(form)
    if isinstance(denied, PermissionDenied):
        await audit_denial(deps, actor, denied, str(body.get("text") or "runbook form"), str(body.get("trigger_id")))
    return runbook_blocks.message_modal(title, denied.render())


async def open_runbook_form(
    deps: Deps, body: dict[str, Any], client: AsyncWebClient, respond: Respond, command: OpenRunbookForm
) -> None:
    """``/release runbook add`` and ``/release runbook edit RB-3``: a placeholder at once, then the form in it."""
    title = f"Edit {runbooks.reference(command.runbook_id)}" if command.runbook_id else "New runbook"
    placeholder = runbook_blocks.message_modal(title, "Loading the form…")
    opened = await forms.open_form(client, body, respond, placeholder, FALLBACK)
    if opened is None:
        return
    try:
        view = await _load_form(deps, body, command, title)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("runbook form not loaded", error_id=error_id)
        view = runbook_blocks.message_modal(title, f"Something went wrong on my side. Error id `{error_id}`.")
    await forms.update_view(client, str(opened.get("id")), opened.get("hash"), view)


def _errors(errors: dict[str, str]) -> dict[str, Any]:
    shortened = {block: truncate(text, forms.ERROR_MAX) for block, text in errors.items()}
    return {"response_action": "errors", "errors": shortened}


def _field(values: dict[str, Any], block_id: str) -> str | None:
    """The one input of a block: typed text, or the chosen option (``None`` for no choice)."""
    state = next(iter((values.get(block_id) or {}).values()), None) or {}
    if "selected_option" in state:
        option = state.get("selected_option") or {}
        chosen = option.get("value")
        return None if chosen in (None, runbook_blocks.NO_CHOICE) else str(chosen)
    typed = state.get("value")
    return typed if isinstance(typed, str) else None


def draft_from(view: dict[str, Any]) -> RunbookDraft:
    values = (view.get("state") or {}).get("values") or {}
    return RunbookDraft(
        title=_field(values, ids.BLOCK_RUNBOOK_TITLE) or "",
        content=_field(values, ids.BLOCK_RUNBOOK_CONTENT) or "",
        service=_field(values, ids.BLOCK_RUNBOOK_SERVICE),
        environment=_field(values, ids.BLOCK_RUNBOOK_ENVIRONMENT),
        tags=_field(values, ids.BLOCK_RUNBOOK_TAGS) or "",
    )


def edited_runbook(view: dict[str, Any]) -> int | None:
    """The runbook the form edits (None for a new one), from the form's ``private_metadata``."""
    metadata = json.loads(str(view.get("private_metadata") or "{}"))
    found = metadata.get("runbook") if isinstance(metadata, dict) else None
    if found is None:
        return None
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise ValueError("not a runbook id")
    return found


async def on_form_submit(deps: Deps, body: dict[str, Any]) -> dict[str, Any]:
    """Save the runbook; returns the ack's body: field errors, or the confirmation that replaces the form."""
    view = body.get("view") or {}
    try:
        runbook_id = edited_runbook(view)
    except ValueError:
        return _errors({ids.BLOCK_RUNBOOK_TITLE: "This form is damaged: close it and open it again."})
    draft = draft_from(view)
    user = body.get("user") or {}
    problems: dict[str, str] = {}
    saved: list[SavedRunbook] = []

    async def work(ctx: CommandContext) -> blocks.Rendered:
        try:
            outcome = await runbooks.save_runbook(
                ctx.uow, actor=ctx.actor, runbook_id=runbook_id, draft=draft, now=ctx.now, request_id=ctx.request_id
            )
        except runbooks.RunbookProblems as error:
            problems.update(error.problems)
            raise
        saved.append(outcome)
        return blocks.reply(runbook_blocks.saved_text(outcome))

    rendered = await perform_safely(
        deps,
        user_id=str(user.get("id", "")),
        request_key=f"view:{view.get('id')}:{view.get('hash')}",
        what=f"save runbook {runbooks.reference(runbook_id)}" if runbook_id else "add a runbook",
        work=work,
        user_name=user.get("username"),
        body=body,
    )
    if problems:
        return _errors({FIELD_BLOCKS[name]: text for name, text in problems.items()})
    if saved:
        return {"response_action": "update", "view": runbook_blocks.saved_modal(saved[0])}
    if rendered is None:
        return {"response_action": "clear"}  # the same submission again: the first one answered
    return _errors({ids.BLOCK_RUNBOOK_TITLE: forms.field_error(rendered[0])})


async def _placeholder(client: AsyncWebClient, trigger_id: str, value: str) -> dict[str, Any] | None:
    """The modal a runbook will show in, opened at once; None when Slack refused it (the trigger expired)."""
    try:
        opened = await client.views_open(
            trigger_id=trigger_id, view=runbook_blocks.message_modal(f"Runbook {value}", "Loading…")
        )
    except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as error:
        log.info("runbook modal not opened", error=repr(error))
        return None
    shown = opened.get("view")
    return shown if isinstance(shown, dict) else None


async def on_show_click(deps: Deps, body: dict[str, Any], client: AsyncWebClient, respond: Respond) -> None:
    """A runbook's button: the runbook in a modal for whoever pressed it, or, when no modal can be opened, in a
    message only they see."""
    action = (body.get("actions") or [{}])[0]
    value = truncate(str(action.get("value", "")), 20)
    opened = await _placeholder(client, str(body.get("trigger_id") or ""), value)
    await audit_click(deps, body, target=value or None)
    click_id = str(action.get("action_ts") or body.get("trigger_id") or "")
    user = body.get("user") or {}
    shown: list[Runbook] = []

    async def work(ctx: CommandContext) -> blocks.Rendered:
        runbook = await runbooks.get_runbook(ctx.uow, actor=ctx.actor, runbook_id=parse_reference(value, "RB"))
        shown.append(runbook)
        return runbook_blocks.runbook_message(runbook)

    rendered = await perform_safely(
        deps,
        user_id=str(user.get("id", "")),
        request_key=f"click:{ids.ACTION_RUNBOOK_SHOW}:{user.get('id')}:{click_id}",
        what=f"click Show on {value}",
        work=work,
        user_name=user.get("username"),
        body=body,
    )
    if rendered is None:
        return
    if opened is None:
        text, message = rendered
        await respond(text=text, blocks=message, response_type="ephemeral", replace_original=False)
        return
    view = (
        runbook_blocks.runbook_modal(shown[0])
        if shown
        else runbook_blocks.message_modal(f"Runbook {value}", rendered[0])
    )
    await forms.update_view(client, str(opened.get("id")), opened.get("hash"), view)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.view(ids.VIEW_RUNBOOK_FORM)
    async def runbook_submitted(ack: Ack, body: dict[str, Any]) -> None:
        await ack(**await forms.safely(on_form_submit(deps, body), ids.BLOCK_RUNBOOK_TITLE))

    @app.action(SHOW_ACTION)
    async def runbook_show_clicked(ack: Ack, body: dict[str, Any], client: AsyncWebClient, respond: Respond) -> None:
        await ack()
        deps.tasks.spawn(on_show_click(deps, body, client, deps.replies.responder(body, respond)))

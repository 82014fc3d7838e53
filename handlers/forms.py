"""Commands answered with a form (a modal) instead of a reply, and what the forms share.

A form opens with the slash command's ``trigger_id``, which Slack honours for 3 seconds only, so the
listener acknowledges, then hands the opener to a task whose first Slack call is ``views.open``: no
database work may come before it (anything the form needs from the store is loaded afterwards and
shown with ``views.update``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core import grammar
from core.actors import resolve_actor
from core.errors import ReleasebotError
from core.model import Actor
from core.ports import UnitOfWork
from core.syntax import Command
from handlers import blocks
from handlers.deps import Deps
from handlers.perform import unexpected_error_reply

log = structlog.get_logger(__name__)

Respond = Callable[..., Awaitable[Any]]
FormOpener = Callable[[Deps, dict[str, Any], AsyncWebClient, Respond, Any], Awaitable[None]]
FormRegistry = dict[type[Command], FormOpener]

ERROR_MAX = 150  # an inline error under a form field is one short line
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")


def form_for(registry: FormRegistry, body: dict[str, Any]) -> tuple[FormOpener, Command] | None:
    """The opener for a slash command that asks for a form, with the parsed command; None for any other
    command (including text that does not parse: the usual path answers it)."""
    if not body.get("trigger_id"):
        return None
    try:
        command = grammar.parse(str(body.get("text") or ""))
    except ReleasebotError:
        return None
    opener = registry.get(type(command))
    return (opener, command) if opener is not None else None


async def open_form(
    client: AsyncWebClient, body: dict[str, Any], respond: Respond, view: dict[str, Any], fallback: str
) -> dict[str, Any] | None:
    """``views.open`` with the command's trigger; the opened view (with its id and hash), or None after telling
    the person what to type instead."""
    try:
        opened = await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
    except SlackApiError as error:
        log.warning("form not opened", error=error.response.get("error"), callback_id=view.get("callback_id"))
        await respond(
            text=f"I couldn't open the form in time. {fallback}",
            response_type="ephemeral",
            replace_original=False,
        )
        return None
    shown = opened.get("view")
    return shown if isinstance(shown, dict) else None


async def update_view(client: AsyncWebClient, view_id: str, view_hash: str | None, view: dict[str, Any]) -> bool:
    """``views.update`` guarded by the hash of the view it replaces: False when the person (or another update)
    changed the form in the meantime, so a stale update never overwrites a newer one."""
    try:
        await client.views_update(view_id=view_id, hash=view_hash, view=view)
    except SlackApiError as error:
        log.info("form not updated", error=error.response.get("error"), view_id=view_id)
        return False
    return True


async def show_failure(client: AsyncWebClient, view_id: str, view_hash: str | None, title: str) -> None:
    """An unexpected error while filling in a form: logged under a correlation id, which the form then shows.
    Call it from an ``except`` block."""
    error_id = uuid.uuid4().hex[:12]
    log.exception("form not filled in", error_id=error_id, view_id=view_id)
    failed = unexpected_error_reply(error_id)
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": failed[1],
    }
    await update_view(client, view_id, view_hash, view)


async def post_reply(client: AsyncWebClient, *, channel: str | None, user: str, rendered: blocks.Rendered) -> None:
    """The usual ephemeral reply, in the channel the form was opened from (best effort: the form shows it too)."""
    if not channel:
        return
    text, reply_blocks = rendered
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=reply_blocks)
    except SlackApiError as error:
        log.info("form reply not posted", error=error.response.get("error"), channel=channel)


async def actor_of(deps: Deps, uow: UnitOfWork, user: dict[str, Any]) -> Actor:
    return await resolve_actor(
        uow,
        user_id=str(user.get("id", "")),
        admins=deps.admins,
        default_role=deps.default_role,
        source=deps.source,
        name=user.get("username"),
    )


async def user_names(uow: UnitOfWork, texts: Iterable[str]) -> dict[str, str]:
    """The stored names of the people mentioned in ``texts`` (for plain text, where mentions don't render)."""
    names: dict[str, str] = {}
    for user_id in {match for text in texts for match in _MENTION.findall(text)}:
        user = await uow.users.get(user_id)
        if user is not None and user.name:
            names[user_id] = user.name
    return names


def field_error(mrkdwn: str, names: dict[str, str] | None = None) -> str:
    """A message for a form field (plain text, one short line): mentions as ``@name``, no emphasis."""
    known = names or {}
    text = _MENTION.sub(lambda m: "@" + known.get(m.group(1), m.group(1)), mrkdwn)
    text = _DATE.sub(lambda m: m.group(1), text)
    return blocks.plain(text.split("\n", 1)[0]).strip()[:ERROR_MAX]


def selected(values: dict[str, Any], block_id: str, action_id: str) -> str | None:
    """The value chosen in a select of a submitted form, or None."""
    state = (values.get(block_id) or {}).get(action_id) or {}
    chosen = state.get("selected_option") or {}
    value = chosen.get("value")
    return str(value) if value else None


def typed(values: dict[str, Any], block_id: str, action_id: str) -> str:
    """The text typed in an input of a submitted form, stripped ("" when left empty)."""
    state = (values.get(block_id) or {}).get(action_id) or {}
    return str(state.get("value") or "").strip()


async def safely(submission: Coroutine[Any, Any, dict[str, Any]], block_id: str) -> dict[str, Any]:
    """The ack of a form submission; an unexpected error is logged under a correlation id shown on the form
    (the ack must come, or Slack tells the person the app did not respond)."""
    try:
        return await submission
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("form submission failed", error_id=error_id)
        message = f"Something went wrong on my side and nothing was changed. Error id {error_id}."
        return {"response_action": "errors", "errors": {block_id: message}}

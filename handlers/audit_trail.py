"""Audit entries the Slack surfaces record themselves: every button click, whatever comes of it.

Use cases audit the state they change and ``handlers.perform`` audits denials; a click is recorded here,
in its own transaction and before acting on it, so that a click which is then refused, repeated or fails
still leaves its trace::

    async def on_approve(deps, body, respond):
        await audit_click(deps, body)
        ...
"""

from __future__ import annotations

import re
from typing import Any

from core.actors import resolve_actor
from core.audit import record
from core.text import truncate
from handlers.deps import Deps

CLICK = "button.click"
_REFERENCE = re.compile(r"^[A-Z]-\d{1,12}$")


def click_details(body: dict[str, Any]) -> dict[str, Any]:
    """What was clicked, where: action and block ids, the button's value, the message or view it sits in."""
    action = (body.get("actions") or [{}])[0]
    container = body.get("container") or {}
    found = {
        "action_id": action.get("action_id"),
        "block_id": action.get("block_id"),
        "value": truncate(str(action["value"]), 200) if action.get("value") is not None else None,
        "channel": container.get("channel_id"),
        "message_ts": container.get("message_ts"),
        "view_id": container.get("view_id"),
    }
    return {key: value for key, value in found.items() if value}


async def audit_click(deps: Deps, body: dict[str, Any], *, target: str | None = None) -> None:
    """Record one ``block_actions`` click as ``button.click``; the target defaults to the button's value when
    that is a reference such as ``D-42``."""
    user = body.get("user") or {}
    action = (body.get("actions") or [{}])[0]
    details = click_details(body)
    if target is None and _REFERENCE.match(str(details.get("value", ""))):
        target = str(details["value"])
    request_id = str(action.get("action_ts") or body.get("trigger_id") or "") or None
    async with deps.uow() as uow:
        actor = await resolve_actor(
            uow,
            user_id=str(user.get("id", "")),
            admins=deps.admins,
            default_role=deps.default_role,
            source=deps.source,
            name=user.get("username"),
        )
        await record(
            uow, actor=actor, action=CLICK, target=target, now=deps.clock(), request_id=request_id, details=details
        )
        await uow.commit()

"""Interactivity requests from inside a modal, built as Slack sends them: ``block_suggestion`` (type-ahead of an
external select) and ``block_actions`` from a view (a select with ``dispatch_action``, a button in a modal).

Both start from the samples in ``shared/slack/payloads`` (``view_submission.json`` for the user, team and
view envelope; ``block_actions.json`` for the action shape) and carry the view as Slack returns it (the
fake's stored view: id, hash, blocks, callback_id, private_metadata), with ``state.values`` filled in.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.support.slack_requests import _interactive_body, new_trigger_id, sample, user_name_for


def _element(view: dict[str, Any], action_id: str) -> tuple[str, dict[str, Any]]:
    for block in view.get("blocks", []):
        for element in [block.get("element"), block.get("accessory"), *block.get("elements", [])]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    raise ValueError(f"no element {action_id!r} in view {view.get('callback_id')!r}")


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    name = user_name_for(user_id)
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _sent_view(view: dict[str, Any], state_values: dict[str, Any] | None) -> dict[str, Any]:
    sent = copy.deepcopy(view)
    sent["state"] = {"values": copy.deepcopy(state_values or {})}
    sent.setdefault("root_view_id", sent.get("id"))
    return sent


def external_option(text: str, value: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text, "emoji": True}, "value": value or text}


def select_state(kind: str, value: str, text: str | None = None) -> dict[str, Any]:
    """A select's entry in ``state.values[block_id]`` keyed by nothing: wrap it as ``{action_id: ...}``."""
    return {"type": kind, "selected_option": external_option(text or value, value)}


def block_suggestion(action_id: str, value: str, *, view: dict[str, Any], user_id: str = "U0BOB00002") -> bytes:
    """What Slack sends while someone types ``value`` into the external select ``action_id`` of ``view``."""
    envelope = sample("view_submission.json")["payload"]
    block_id, _ = _element(view, action_id)
    payload = {
        "type": "block_suggestion",
        "user": _user(user_id, envelope["user"]["team_id"]),
        "container": {"type": "view", "view_id": view["id"]},
        "api_app_id": envelope["api_app_id"],
        "token": envelope["token"],
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "team": envelope["team"],
        "enterprise": None,
        "is_enterprise_install": False,
        "view": _sent_view(view, None),
    }
    return _interactive_body(payload)


def view_action(
    action_id: str,
    *,
    view: dict[str, Any],
    user_id: str = "U0BOB00002",
    selected: dict[str, Any] | None = None,
    value: str | None = None,
    state_values: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    action_ts: str | None = None,
) -> bytes:
    """A ``block_actions`` from inside a modal: a select (``selected``: the chosen option) or a button (its value,
    by default the button's own). There is no response_url, channel or message in it."""
    payload = sample("block_actions.json")["payload"]
    for key in ("message", "channel", "response_url"):
        payload.pop(key, None)
    block_id, element = _element(view, action_id)
    action: dict[str, Any] = {"type": element["type"], "action_id": action_id, "block_id": block_id}
    if element["type"] == "button":
        action.update(text=element["text"], value=value if value is not None else element.get("value", ""))
        if "style" in element:
            action["style"] = element["style"]
    else:
        action["selected_option"] = selected
        if "placeholder" in element:
            action["placeholder"] = element["placeholder"]
    action["action_ts"] = action_ts or f"{time.time():.6f}"
    payload["user"] = _user(user_id, payload["user"]["team_id"])
    payload["container"] = {"type": "view", "view_id": view["id"]}
    payload["trigger_id"] = trigger_id or new_trigger_id()
    payload["view"] = _sent_view(view, state_values)
    payload.pop("state", None)  # a view's inputs are in view.state
    payload["actions"] = [action]
    return _interactive_body(payload)

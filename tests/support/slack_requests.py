"""Requests built exactly as Slack sends them, starting from the samples in ``shared/slack/payloads``.

Bodies are bytes in Slack's encodings: slash commands as a form (``quote_plus``), interactivity as
``payload=<url-quoted compact JSON>``, events as compact JSON. Sign them with ``signed_headers``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
import uuid
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from tests.support.blockkit import shared_dir

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# Headers Slack puts on every request besides the signature and the content type (from the samples).
_SLACK_HEADERS = {
    "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    "Accept": "application/json,*/*",
    "Accept-Encoding": "gzip,deflate",
}
_KNOWN_USER_NAMES = {"U0ALICE001": "alice", "U0BOB00002": "bob"}
_SAMPLE_CHANNEL = ("C0PAYMENTS1", "payments-releases")
_SAMPLE_RESPONSE_URL = "https://hooks.slack.com/commands/T0RELTEAM1/7001234567890/AbCdEfGhIjKlMnOpQrStUvWx"
_SAMPLE_ACTION_RESPONSE_URL = "https://hooks.slack.com/actions/T0RELTEAM1/7001234567999/ZyXwVuTsRqPoNmLkJiHgFeDc"

_trigger_counter = itertools.count(7001234570000)
_event_counter = itertools.count(1)


@lru_cache(maxsize=16)
def _sample_text(name: str) -> str:
    return (shared_dir() / "slack" / "payloads" / name).read_text(encoding="utf-8")


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of ``shared/slack/payloads/<name>`` (e.g. ``"block_actions.json"``)."""
    loaded: dict[str, Any] = json.loads(_sample_text(name))
    return loaded


def new_trigger_id() -> str:
    """A trigger_id in Slack's format, unique within the test run."""
    return f"{next(_trigger_counter)}.1234567890123.{uuid.uuid4().hex}"


def user_name_for(user_id: str) -> str:
    return _KNOWN_USER_NAMES.get(user_id, user_id.lower())


def dm_channel_for(user_id: str) -> str:
    """The id of the app's DM with ``user_id`` as the fake Slack API hands it out ("D" + the rest)."""
    return "D" + user_id[1:]


# --- signing -----------------------------------------------------------------------------------


def signature(body: bytes, secret: str, ts: int | str) -> str:
    basestring = b"v0:" + str(ts).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, ts: int | None = None) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` for ``body`` (timestamp defaults to now)."""
    stamp = int(time.time()) if ts is None else ts
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": signature(body, secret, stamp)}


def signed_headers(
    body: bytes,
    secret: str,
    *,
    content_type: str,
    ts: int | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    """Every header Slack sends with ``body``; with ``retry_num`` also the Events API retry headers."""
    headers = {**_SLACK_HEADERS, "Content-Type": content_type, **sign(body, secret, ts)}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


# --- bodies ------------------------------------------------------------------------------------


def _channel_name(channel_id: str) -> str:
    if channel_id == _SAMPLE_CHANNEL[0]:
        return _SAMPLE_CHANNEL[1]
    if channel_id.startswith("D"):
        return "directmessage"
    return channel_id.lower()


def _interactive_body(payload: dict[str, Any]) -> bytes:
    compact = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return ("payload=" + quote(compact)).encode("ascii")


def slash_command(
    text: str,
    *,
    user_id: str = "U0ALICE001",
    user_name: str | None = None,
    channel_id: str = "C0PAYMENTS1",
    channel_name: str | None = None,
    command: str = "/release",
    response_url: str = _SAMPLE_RESPONSE_URL,
    trigger_id: str | None = None,
) -> bytes:
    """A slash command body with the field set and order of ``slash_command.json``."""
    fields: dict[str, str] = dict(sample("slash_command.json")["form_fields"])
    fields.update(
        channel_id=channel_id,
        channel_name=channel_name or _channel_name(channel_id),
        user_id=user_id,
        user_name=user_name or user_name_for(user_id),
        command=command,
        text=text,
        response_url=response_url,
        trigger_id=trigger_id or new_trigger_id(),
    )
    return urlencode(fields).encode("ascii")


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]] | None:
    for block in blocks:
        candidates = [*block.get("elements", []), block.get("accessory"), block.get("element")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    return None


def _option(element: dict[str, Any], value: str) -> dict[str, Any]:
    options = [*element.get("options", [])]
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    for option in options:
        if option.get("value") == value:
            return dict(option)
    raise ValueError(f"no option with value {value!r} in element {element.get('action_id')!r}")


def _action(block_id: str, element: dict[str, Any], value: str, action_ts: str) -> dict[str, Any]:
    kind = element["type"]
    action: dict[str, Any] = {"action_id": element["action_id"], "block_id": block_id}
    if kind == "button":
        action["text"] = element["text"]
        action["value"] = value
        if "style" in element:
            action["style"] = element["style"]
    elif kind in ("static_select", "radio_buttons", "overflow"):
        action["selected_option"] = _option(element, value)
    elif kind == "users_select":
        action["selected_user"] = value
    elif kind == "conversations_select":
        action["selected_conversation"] = value
    elif kind == "channels_select":
        action["selected_channel"] = value
    elif kind == "datepicker":
        action["selected_date"] = value
    else:
        action["value"] = value
    action["type"] = kind
    action["action_ts"] = action_ts
    return action


def block_actions(
    action_id: str,
    value: str,
    *,
    user_id: str = "U0BOB00002",
    user_name: str | None = None,
    channel_id: str = "C0PAYMENTS1",
    message_ts: str = "1767225500.000200",
    response_url: str = _SAMPLE_ACTION_RESPONSE_URL,
    trigger_id: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    text: str | None = None,
    is_ephemeral: bool = False,
    state_values: dict[str, Any] | None = None,
    action_ts: str | None = None,
) -> bytes:
    """A click on the element ``action_id`` of a message whose ``blocks`` default to the sample's.

    ``blocks`` is typically ``fake.message(channel, ts)["blocks"]``: the action then carries the
    element's real block_id, text and style. Pass ``value`` as the element's value (for selects, the
    chosen option's value; for user/date pickers the selection).
    """
    payload = sample("block_actions.json")["payload"]
    message = payload["message"]
    if blocks is not None:
        message["blocks"] = copy.deepcopy(blocks)
    if text is not None:
        message["text"] = text
    message["ts"] = message_ts
    stamp = action_ts or f"{time.time():.6f}"
    found = _find_element(message["blocks"], action_id)
    if found is None:
        if blocks is not None:
            raise ValueError(f"no element with action_id {action_id!r} in the given blocks")
        button = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": action_id}}
        found = ("actions", button)
    payload["user"] = {
        "id": user_id,
        "username": user_name or user_name_for(user_id),
        "name": user_name or user_name_for(user_id),
        "team_id": payload["user"]["team_id"],
    }
    payload["container"].update(message_ts=message_ts, channel_id=channel_id, is_ephemeral=is_ephemeral)
    payload["trigger_id"] = trigger_id or new_trigger_id()
    payload["channel"] = {"id": channel_id, "name": _channel_name(channel_id)}
    if is_ephemeral:
        del payload["message"]
    payload["state"] = {"values": state_values or {}}
    payload["response_url"] = response_url
    payload["actions"] = [_action(found[0], found[1], value, stamp)]
    return _interactive_body(payload)


def _input_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    kind = element["type"]
    state: dict[str, Any] = {"type": kind}
    if kind in ("static_select", "radio_buttons", "external_select"):
        state["selected_option"] = None if value is None else _option(element, value)
    elif kind in ("checkboxes", "multi_static_select"):
        state["selected_options"] = [_option(element, v) for v in value or []]
    elif kind == "users_select":
        state["selected_user"] = value
    elif kind == "multi_users_select":
        state["selected_users"] = list(value or [])
    elif kind == "conversations_select":
        state["selected_conversation"] = value
    elif kind == "channels_select":
        state["selected_channel"] = value
    elif kind == "datepicker":
        state["selected_date"] = value
    elif kind == "timepicker":
        state["selected_time"] = value
    else:  # plain_text_input, number_input, email/url inputs
        state["value"] = value
    return state


def _state_values(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    inputs = {b.get("block_id"): b["element"] for b in view.get("blocks", []) if b.get("type") == "input"}
    state: dict[str, Any] = {}
    for block_id, value in values.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            state[block_id] = copy.deepcopy(value)  # already {action_id: {type, ...}}
            continue
        element = inputs.get(block_id)
        if element is None:
            raise ValueError(f"no input block {block_id!r} in the view (inputs: {sorted(map(str, inputs))})")
        state[block_id] = {element["action_id"]: _input_state(element, value)}
    return state


def view_submission(
    callback_id: str,
    values: dict[str, Any],
    *,
    user_id: str = "U0BOB00002",
    user_name: str | None = None,
    private_metadata: str = "",
    view: dict[str, Any] | None = None,
    view_id: str | None = None,
    trigger_id: str | None = None,
) -> bytes:
    """A modal submit. ``view`` is the view the app opened (default: the sample's reject modal).

    ``values`` maps block_id to the user's input: a string for text inputs, an option value for
    selects, a list of option values for checkboxes, a user id for user pickers; or, verbatim,
    Slack's ``{action_id: {"type": ..., ...}}`` state for that block.
    """
    payload = sample("view_submission.json")["payload"]
    sent = payload["view"]
    if view is not None:
        for key in ("blocks", "title", "submit", "close", "external_id"):
            if key in view:
                sent[key] = copy.deepcopy(view[key])
    sent["id"] = view_id or (view or {}).get("id") or sent["id"]
    sent["root_view_id"] = sent["id"]
    sent["callback_id"] = callback_id
    sent["private_metadata"] = private_metadata
    sent["state"] = {"values": _state_values(sent, values)}
    sent["hash"] = f"{int(time.time())}.{uuid.uuid4().hex[:8]}"
    payload["user"] = {
        "id": user_id,
        "username": user_name or user_name_for(user_id),
        "name": user_name or user_name_for(user_id),
        "team_id": payload["user"]["team_id"],
    }
    payload["trigger_id"] = trigger_id or new_trigger_id()
    return _interactive_body(payload)


def app_home_opened(
    user_id: str,
    *,
    tab: str = "home",
    view: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> bytes:
    """An Events API ``app_home_opened`` delivery. ``view`` only when a Home view was published before.

    Each call gets a fresh ``event_id`` unless one is given (pass the same one to model a retry).
    """
    body = sample("event_app_home_opened.json")["json_body"]
    now = time.time()
    event = body["event"]
    event.update(user=user_id, channel=dm_channel_for(user_id), tab=tab, event_ts=f"{now:.6f}")
    if view is None:
        del event["view"]
    else:
        event["view"] = copy.deepcopy(view)
    body["event_id"] = event_id or f"Ev{next(_event_counter):010d}"
    body["event_time"] = int(now)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def url_verification(challenge: str | None = None) -> bytes:
    """The one-off ``url_verification`` request sent when the Request URL is saved."""
    body = sample("url_verification.json")["json_body"]
    if challenge is not None:
        body["challenge"] = challenge
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def socket_envelope(kind: str, **payload: Any) -> dict[str, Any]:
    """A Socket Mode envelope (``slash_commands``, ``interactive`` or ``events_api``) from the samples.

    It gets a fresh ``envelope_id``; ``payload`` replaces fields of the sample's payload (unsigned, as
    Socket Mode delivers them).
    """
    envelope: dict[str, Any] = sample("socket_mode_envelopes.json")["server_to_app"][kind]
    envelope["envelope_id"] = str(uuid.uuid4())
    envelope["payload"].update(payload)
    return envelope

"""What the console user sees, as Slack would show it, and the buttons on it: the latest version of every message
posted in a channel, and the replies only they see (ephemeral messages, replaced or deleted by the answer to a click
on them, as Slack does)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.fakeslack import RESPONSE_URL, Call

REFERENCE_MAX = 64  # a longer button value is not offered as a reference to type


@dataclass(frozen=True)
class Shown:
    """A message on screen: in a channel (``ephemeral`` False) or a reply only one user sees."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    ephemeral: bool


@dataclass(frozen=True)
class Origin:
    """Who a response URL answers, in which channel, and the message they clicked (None for a command)."""

    user: str
    channel: str
    clicked: tuple[str, ...] | None


@dataclass(frozen=True)
class Button:
    shown: Shown
    key: tuple[str, ...]  # the message's identity, for the origin of the click's response URL
    element: dict[str, Any]
    block_id: str


def reference(element: dict[str, Any]) -> str | None:
    """The reference to type after ``click <button>``: the button's value when it is one short word."""
    value = str(element.get("value", ""))
    if not value or len(value) > REFERENCE_MAX or value[0] in "{[" or any(c.isspace() for c in value):
        return None
    return value


def hint(element: dict[str, Any]) -> str:
    """What to type to press ``element``."""
    ref = reference(element)
    action = f"click {element.get('action_id', '')}"
    return f"{action} {ref}" if ref else action


def _matches(element: dict[str, Any], value: str | None) -> bool:
    if value is None:
        return True
    raw = str(element.get("value", ""))
    if raw.lower() == value.lower():
        return True
    try:
        loaded = json.loads(raw)
    except ValueError:
        return False
    # A button carrying a request (the dry run's Confirm) answers to any of its words: service, version, env.
    return isinstance(loaded, dict) and any(isinstance(v, str) and v.lower() == value.lower() for v in loaded.values())


def _blocks(value: Any) -> list[dict[str, Any]]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return list(loaded or [])


Put = Callable[[tuple[str, ...], Shown], None]


class Screen:
    """Rebuilds what each user sees from the calls the fake Slack recorded, and finds buttons on it."""

    def __init__(self) -> None:
        self._origins: dict[str, Origin] = {}

    def answering(self, key: str, *, user: str, channel: str, clicked: tuple[str, ...] | None = None) -> None:
        """Remember that the response URL ``key`` answers ``user`` (after a click on ``clicked``)."""
        self._origins[key] = Origin(user, channel, clicked)

    def clicked(self, key: str) -> bool:
        """Whether the response URL ``key`` answers a click (rather than a command)."""
        origin = self._origins.get(key)
        return origin is not None and origin.clicked is not None

    def visible(self, calls: list[Call], user: str) -> dict[tuple[str, ...], Shown]:
        """Every message ``user`` sees, keyed by identity, in the order they last changed (oldest first)."""
        shown: dict[tuple[str, ...], Shown] = {}

        def put(key: tuple[str, ...], message: Shown) -> None:
            shown.pop(key, None)
            shown[key] = message

        for number, call in enumerate(calls):
            if call.status != 200 or not call.response.get("ok", True):
                continue
            args, response = call.args, call.response
            if call.method in ("chat.postMessage", "chat.update"):
                channel, ts = str(response.get("channel", "")), str(response.get("ts", ""))
                echo = response.get("message") or {}
                text = str(echo.get("text", args.get("text", "")))
                put(("message", channel, ts), Shown(channel, ts, text, _blocks(echo.get("blocks")), False))
            elif call.method == "chat.postEphemeral" and args.get("user") == user:
                ts = str(response.get("message_ts", number))
                blocks = _blocks(args.get("blocks"))
                put(
                    ("ephemeral", str(number)), Shown(str(args["channel"]), ts, str(args.get("text", "")), blocks, True)
                )
            elif call.method == RESPONSE_URL:
                self._respond(shown, put, number, call, user)
        return shown

    def _respond(self, shown: dict[tuple[str, ...], Shown], put: Put, number: int, call: Call, user: str) -> None:
        origin = self._origins.get(str(call.args.get("response_url_id", "")))
        if origin is None:
            return
        args, target = call.args, origin.clicked
        on_channel_message = target is not None and target[0] == "message"
        if origin.user != user and not on_channel_message:
            return  # someone else's reply
        text, blocks = str(args.get("text", "")), _blocks(args.get("blocks"))
        if args.get("delete_original") or args.get("replace_original"):
            if target is not None and target in shown:
                old = shown.pop(target)
                if args.get("replace_original"):
                    put(target, Shown(old.channel, old.ts, text, blocks, old.ephemeral))
            return
        if args.get("response_type") != "in_channel" and origin.user == user:
            put(("ephemeral", str(number)), Shown(origin.channel, f"{number}.ephemeral", text, blocks, True))

    def buttons(self, calls: list[Call], user: str) -> Iterator[Button]:
        """The buttons ``user`` sees, newest message first."""
        shown = self.visible(calls, user)
        for key in reversed(list(shown)):
            message = shown[key]
            for block in message.blocks:
                elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory")]
                for element in elements:
                    if isinstance(element, dict) and element.get("type") == "button":
                        yield Button(message, key, element, str(block.get("block_id", "actions")))

    def find(self, calls: list[Call], *, user: str, action: str, value: str | None) -> Button | None:
        """The newest button ``user`` sees whose action id contains ``action`` and whose value is ``value`` (any
        value when None)."""
        for button in self.buttons(calls, user):
            if action.lower() in str(button.element.get("action_id", "")).lower() and _matches(button.element, value):
                return button
        return None

    def hints(self, calls: list[Call], *, user: str, limit: int = 5) -> list[str]:
        """What to type for the newest buttons ``user`` sees, each once."""
        found: list[str] = []
        for button in self.buttons(calls, user):
            text = hint(button.element)
            if text not in found:
                found.append(text)
            if len(found) == limit:
                break
        return found

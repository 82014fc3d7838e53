"""Workspace state behind ``bot.fakeslack.FakeSlack``: channels, users, messages, views, files and tickets."""

from __future__ import annotations

import copy
import hashlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Validator = Callable[[str, dict[str, Any]], list[str]]

TEAM_ID, TEAM_NAME, TEAM_DOMAIN = "T0RELTEAM1", "Acme Eng", "acme-eng"
BOT_USER_ID, BOT_ID, APP_ID, BOT_NAME = "U0RELBOT01", "B0RELBOT01", "A0RELBOT01", "release-bot"
FIRST_TS = 1767225600  # 2026-01-01T00:00:00Z

_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]+$")


class SlackError(Exception):
    """An ``{"ok": false, "error": ...}`` answer."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}


def invalid_arguments(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True
    is_private: bool = False
    is_archived: bool = False
    user: str | None = None  # the other party of a DM

    def info(self) -> dict[str, Any]:
        if self.id.startswith("D"):
            return {"id": self.id, "is_im": True, "user": self.user, "is_open": True, "created": FIRST_TS}
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": self.member,
            "name_normalized": self.name,
            "created": FIRST_TS,
        }


def check_content(args: dict[str, Any], *, required: bool = True) -> None:
    """Slack's checks on message content: something to show, and well-formed blocks."""
    has = [bool(args.get(k)) for k in ("text", "blocks", "attachments", "markdown_text")]
    if required and not any(has):
        raise SlackError("no_text")
    if args.get("markdown_text") and (has[0] or has[1]):
        raise SlackError("markdown_text_conflict")
    blocks = args.get("blocks")
    if "blocks" in args and not (isinstance(blocks, list) and all(isinstance(b, dict) for b in blocks)):
        raise SlackError("invalid_blocks_format")


class Workspace:
    """Channels, users, messages, views and files of the fake workspace."""

    def __init__(self, *, validator: Validator | None, strict_channels: bool, strict_users: bool) -> None:
        self.validator = validator
        self.strict_channels = strict_channels
        self.strict_users = strict_users
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, str] = {}  # user id -> view id
        self.files: dict[str, dict[str, Any]] = {}
        self.validation_errors: list[str] = []
        self.upload_base = ""  # set by the server once it knows its port
        self.socket_url = ""  # likewise, the Socket Mode WebSocket URL (without a ticket)
        self.socket_tickets: set[str] = set()  # issued by apps.connections.open, each good for one connection
        self._used_triggers: set[str] = set()
        self._ticks = itertools.count(1)
        self._ids = itertools.count(1)

    # -- identifiers ------------------------------------------------------------------------------
    def next_ts(self) -> str:
        micros = next(self._ticks) * 100
        return f"{FIRST_TS + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        return f"{prefix}0FAKE{next(self._ids):05d}"

    # -- channels and users -----------------------------------------------------------------------
    def add_channel(
        self, channel_id: str, name: str, *, member: bool = True, is_private: bool = False, is_archived: bool = False
    ) -> Channel:
        channel = Channel(channel_id, name.lstrip("#"), member, is_private, is_archived)
        self.channels[channel_id] = channel
        self.messages.setdefault(channel_id, [])
        return channel

    def add_user(self, user_id: str, name: str, **fields: Any) -> dict[str, Any]:
        real_name = fields.pop("real_name", name.title())
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": real_name,
            "tz": fields.pop("tz", "Etc/UTC"),
            "is_bot": fields.pop("is_bot", False),
            "profile": {"real_name": real_name, "display_name": name, "email": fields.pop("email", None)},
            **fields,
        }
        self.users[user_id] = user
        return user

    def user(self, user_id: str) -> dict[str, Any]:
        if user_id not in self.users:
            if self.strict_users or not _USER_ID.match(user_id):
                raise SlackError("user_not_found")
            self.add_user(user_id, user_id.lower())
        return self.users[user_id]

    def dm(self, user_id: str) -> Channel:
        channel_id = "D" + user_id[1:]
        if channel_id not in self.channels:
            self.add_channel(channel_id, user_id).user = user_id
        return self.channels[channel_id]

    def channel(self, ref: str, *, users_open_dm: bool = False) -> Channel:
        """The channel ``ref`` names: an id, a name (with or without ``#``), or a user id for a DM."""
        if ref in self.channels:
            return self.channels[ref]
        if users_open_dm and _USER_ID.match(ref):
            return self.dm(ref)
        if _CONVERSATION_ID.match(ref):
            if self.strict_channels or ref.startswith("G"):
                raise SlackError("channel_not_found")
            if ref.startswith("D"):
                return self.dm("U" + ref[1:])
            return self.add_channel(ref, ref.lower())
        for channel in self.channels.values():
            if channel.name == ref.lstrip("#") and not channel.id.startswith("D"):
                return channel
        raise SlackError("channel_not_found")

    def postable(self, ref: str) -> Channel:
        channel = self.channel(ref, users_open_dm=True)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.member:
            raise SlackError("not_in_channel")
        return channel

    def find_message(self, channel_id: str, ts: str) -> dict[str, Any]:
        for message in self.messages.get(channel_id, []):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    # -- validation -------------------------------------------------------------------------------
    def check(self, surface: str, obj: dict[str, Any]) -> None:
        if self.validator is None:
            return
        problems = self.validator(surface, obj)
        if problems:
            self.validation_errors.extend(problems)
            messages = [f"[ERROR] {p}" for p in problems]
            raise SlackError("invalid_blocks", errors=problems, response_metadata={"messages": messages})

    def check_blocks(self, args: dict[str, Any]) -> None:
        if isinstance(args.get("blocks"), list):
            self.check("message", {"blocks": args["blocks"]})

    def filled_blocks(self, blocks: list[dict[str, Any]], seed: str) -> list[dict[str, Any]]:
        filled = copy.deepcopy(blocks)
        for index, block in enumerate(filled):
            if "block_id" not in block:
                block["block_id"] = hashlib.sha1(f"{seed}:{index}".encode()).hexdigest()[:5]
        return filled

    def store_message(self, channel: Channel, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
        ts = self.next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": args.get("text") or args.get("markdown_text") or "",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
            "blocks": self.filled_blocks(args.get("blocks") or [], ts),
            "thread_ts": args.get("thread_ts") or None,
            **extra,
        }
        for key in ("attachments", "metadata"):
            if args.get(key):
                message[key] = copy.deepcopy(args[key])
        self.messages.setdefault(channel.id, []).append(message)
        return message

    # -- views ------------------------------------------------------------------------------------
    def take_trigger(self, args: dict[str, Any]) -> None:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            raise invalid_arguments("missing required field: trigger_id")
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        self._used_triggers.add(trigger)

    def save_view(self, view: Any, *, surface: str, view_id: str | None = None) -> dict[str, Any]:
        if not isinstance(view, dict) or view.get("type") != surface:
            raise invalid_arguments(f"view must be an object with type {surface!r} [json-pointer:/view]")
        self.check(surface, view)
        previous = self.views.get(view_id or "")
        record = copy.deepcopy(view)
        new_id = view_id or self.next_id("V")
        record["blocks"] = self.filled_blocks(record.get("blocks", []), new_id)
        record.update(
            id=new_id,
            team_id=TEAM_ID,
            private_metadata=record.get("private_metadata", ""),
            callback_id=record.get("callback_id", ""),
            external_id=record.get("external_id", ""),
            state={"values": {}},
            hash=f"{FIRST_TS + next(self._ids)}.{hashlib.sha1(new_id.encode()).hexdigest()[:8]}",
            root_view_id=previous["root_view_id"] if previous else new_id,
            previous_view_id=previous.get("previous_view_id") if previous else None,
            app_id=APP_ID,
            bot_id=BOT_ID,
        )
        self.views[new_id] = record
        return record

    def view_by_ref(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise invalid_arguments("missing required field: view_id or external_id")
        for view in self.views.values():
            if (view_id and view["id"] == view_id) or (external_id and view.get("external_id") == external_id):
                if args.get("hash") and args["hash"] != view["hash"]:
                    raise SlackError("hash_conflict")
                return view
        raise SlackError("not_found")

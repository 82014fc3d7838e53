"""Web API method behaviour behind ``bot.fakeslack.FakeSlack``.

Each handler takes the decoded arguments (token removed) and returns the response body, or raises
``SlackError`` with the error code Slack gives. Required arguments and error codes follow the method
references (docs.slack.dev/reference/methods/<method>).
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from bot.fakeslack_state import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    SlackError,
    Workspace,
    check_content,
    invalid_arguments,
)

Handler = Callable[[Workspace, dict[str, Any]], dict[str, Any]]

# Arguments (besides token) without which a method answers an error, and the error it answers.
REQUIRED: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("channel",),
    "chat.postEphemeral": ("channel", "user"),
    "chat.update": ("channel", "ts"),
    "chat.delete": ("channel", "ts"),
    "chat.getPermalink": ("channel", "message_ts"),
    "conversations.info": ("channel",),
    "conversations.join": ("channel",),
    "users.info": ("user",),
    "views.open": ("view",),
    "views.update": ("view",),
    "views.push": ("view",),
    "views.publish": ("user_id", "view"),
    "files.getUploadURLExternal": ("filename", "length"),
    "files.completeUploadExternal": ("files",),
    "reactions.add": ("channel", "name", "timestamp"),
}
_MISSING_ERROR = {"channel": "channel_not_found", "user": "user_not_found"}

# Methods called with an app-level token (xapp-) rather than the bot token.
APP_TOKEN_PREFIX = "xapp-"
APP_LEVEL_METHODS = frozenset({"apps.connections.open"})


# -- method handlers -------------------------------------------------------------------------------


def auth_test(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": TEAM_NAME,
        "user": BOT_NAME,
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def post_message(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    check_content(args)
    channel = ws.postable(str(args["channel"]))
    ws.check_blocks(args)
    message = ws.store_message(channel, args)
    echo = {k: v for k, v in message.items() if v is not None}
    return {"ok": True, "channel": channel.id, "ts": message["ts"], "message": echo}


def post_ephemeral(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    check_content(args)
    channel = ws.postable(str(args["channel"]))
    ws.check_blocks(args)
    ts = ws.next_ts()
    ws.ephemerals.append({"channel": channel.id, "ts": ts, **copy.deepcopy(args)})
    return {"ok": True, "message_ts": ts}


def update_message(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    check_content(args)
    channel = ws.channel(str(args["channel"]))
    message = ws.find_message(channel.id, str(args["ts"]))
    ws.check_blocks(args)
    for key in ("text", "attachments", "metadata"):
        if key in args:
            message[key] = copy.deepcopy(args[key])
    if "blocks" in args:  # omitted blocks are kept, an empty list removes them
        message["blocks"] = ws.filled_blocks(args["blocks"], message["ts"])
    message["edited"] = {"user": BOT_USER_ID, "ts": ws.next_ts()}
    echo = {k: message[k] for k in ("type", "text", "user", "bot_id", "app_id", "blocks") if k in message}
    return {"ok": True, "channel": channel.id, "ts": message["ts"], "text": message["text"], "message": echo}


def delete_message(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    channel = ws.channel(str(args["channel"]))
    message = ws.find_message(channel.id, str(args["ts"]))
    ws.messages[channel.id].remove(message)
    return {"ok": True, "channel": channel.id, "ts": message["ts"]}


def get_permalink(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    channel = ws.channel(str(args["channel"]))
    message = ws.find_message(channel.id, str(args["message_ts"]))
    link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{message['ts'].replace('.', '')}"
    if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
        link += f"?thread_ts={message['thread_ts']}&cid={channel.id}"
    return {"ok": True, "channel": channel.id, "permalink": link}


def conversations_info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "channel": ws.channel(str(args["channel"])).info()}


def conversations_join(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    channel = ws.channel(str(args["channel"]))
    if channel.is_private or channel.id.startswith("D"):
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    response: dict[str, Any] = {"ok": True}
    if channel.member:
        response.update(warning="already_in_channel", response_metadata={"warnings": ["already_in_channel"]})
    channel.member = True
    return {**response, "channel": channel.info()}


def conversations_open(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("channel"):
        channel = ws.channel(str(args["channel"]))
    else:
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        for user_id in users:
            ws.user(user_id)
        if len(users) > 1:
            channel_id = "G" + hashlib.sha1(",".join(sorted(users)).encode()).hexdigest()[:9].upper()
            channel = ws.channels.get(channel_id) or ws.add_channel(channel_id, "mpdm-" + "--".join(users))
        else:
            channel = ws.dm(users[0])
    opened = channel.info() if str(args.get("return_im")) in ("1", "true", "True") else {"id": channel.id}
    return {"ok": True, "channel": opened}


def users_info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "user": copy.deepcopy(ws.user(str(args["user"])))}


def views_open(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    ws.take_trigger(args)
    return {"ok": True, "view": copy.deepcopy(ws.save_view(args["view"], surface="modal"))}


def views_push(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    return views_open(ws, args)


def views_update(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    current = ws.view_by_ref(args)
    view = ws.save_view(args["view"], surface=current["type"], view_id=current["id"])
    return {"ok": True, "view": copy.deepcopy(view)}


def views_publish(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    user_id = str(args["user_id"])
    ws.user(user_id)
    existing = ws.home_views.get(user_id)
    if existing and args.get("hash") and args["hash"] != ws.views[existing]["hash"]:
        raise SlackError("hash_conflict")
    view = ws.save_view(args["view"], surface="home", view_id=existing)
    ws.home_views[user_id] = view["id"]
    return {"ok": True, "view": copy.deepcopy(view)}


def get_upload_url(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(args["length"])
    except (TypeError, ValueError):
        raise invalid_arguments("length must be an integer [json-pointer:/length]") from None
    file_id = ws.next_id("F")
    ws.files[file_id] = {"id": file_id, "name": args["filename"], "title": args["filename"], "length": length}
    ws.files[file_id].update(content=None, alt_txt=args.get("alt_txt"), snippet_type=args.get("snippet_type"))
    return {"ok": True, "upload_url": f"{ws.upload_base}{file_id}", "file_id": file_id}


def complete_upload(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    items = args["files"]
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("id") for i in items):
        raise invalid_arguments("files must be a JSON array of {id, title} [json-pointer:/files]")
    for item in items:
        if item["id"] not in ws.files or ws.files[item["id"]]["content"] is None:
            raise SlackError("file_not_found")
    refs = [str(args["channel_id"])] if args.get("channel_id") else []
    refs += [c for c in str(args.get("channels") or "").split(",") if c]
    targets = [ws.postable(ref) for ref in refs]
    shared = []
    for item in items:
        record = ws.files[item["id"]]
        record["title"] = item.get("title") or record["name"]
        record["channels"] = [c.id for c in targets]
        shared.append({"id": record["id"], "title": record["title"]})
    for channel in targets:
        post = {"text": args.get("initial_comment") or "", "thread_ts": args.get("thread_ts")}
        ws.store_message(channel, post, files=copy.deepcopy(shared))
    return {"ok": True, "files": shared}


def apps_connections_open(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    ticket = uuid.uuid4().hex
    ws.socket_tickets.add(ticket)
    return {"ok": True, "url": f"{ws.socket_url}?ticket={ticket}&app_id={APP_ID}"}


def reactions_add(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    channel = ws.channel(str(args["channel"]))
    message = ws.find_message(channel.id, str(args["timestamp"]))
    name = str(args["name"]).strip(":")
    reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
    for reaction in reactions:
        if reaction["name"] == name:
            if BOT_USER_ID in reaction["users"]:
                raise SlackError("already_reacted")
            reaction["users"].append(BOT_USER_ID)
            reaction["count"] += 1
            return {"ok": True}
    reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
    return {"ok": True}


HANDLERS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": post_message,
    "chat.postEphemeral": post_ephemeral,
    "chat.update": update_message,
    "chat.delete": delete_message,
    "chat.getPermalink": get_permalink,
    "conversations.info": conversations_info,
    "conversations.join": conversations_join,
    "conversations.open": conversations_open,
    "users.info": users_info,
    "views.open": views_open,
    "views.update": views_update,
    "views.push": views_push,
    "views.publish": views_publish,
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
    "reactions.add": reactions_add,
    "apps.connections.open": apps_connections_open,
}


def call_method(ws: Workspace, method: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run ``method``; raises ``SlackError`` for missing arguments and method errors."""
    for name in REQUIRED.get(method, ()):
        if args.get(name) in (None, ""):
            error = _MISSING_ERROR.get(name)
            raise SlackError(error) if error else invalid_arguments(f"missing required field: {name}")
    return HANDLERS[method](ws, args)


def respond(ws: Workspace, body: dict[str, Any], channel_id: str | None, message_ts: str | None) -> None:
    """Apply a response_url POST to the bound channel and message, when the URL is bound to one."""
    check_content(body, required=not body.get("delete_original"))
    ws.check_blocks(body)
    if channel_id is None:
        return
    channel = ws.channel(channel_id, users_open_dm=True)
    if body.get("delete_original") and message_ts:
        ws.messages[channel.id] = [m for m in ws.messages.get(channel.id, []) if m["ts"] != message_ts]
    elif body.get("replace_original") and message_ts:
        update_message(ws, {"channel": channel.id, "ts": message_ts, **body})
    elif body.get("response_type") == "in_channel":
        ws.store_message(channel, body)
    else:
        ws.ephemerals.append({"channel": channel.id, "ts": ws.next_ts(), **copy.deepcopy(body)})

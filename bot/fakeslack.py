"""A recording fake of the Slack Web API, served by aiohttp on 127.0.0.1 with an ephemeral port.

Point ``AsyncWebClient(base_url=fake.base_url)`` at it. It keeps channels, messages, views and files,
answers like Slack (errors as HTTP 200 ``{"ok": false}``, 429 with ``Retry-After``, 5xx), records every
call, and lets a caller wait for the calls it expects::

    async with FakeSlack(validator=blockkit.validate) as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
        ...
        (call,) = await fake.wait_for("chat.update", lambda c: c.args["ts"] == ts)

Besides the Web API it serves response URLs (``fake.response_url(key)``, recorded as method
``"response_url"``) and file upload URLs (recorded as method ``"upload_url"``), and Socket Mode: see
``bot.fakeslack_socket`` (``socket_send``, ``socket_wait_connected``, ``socket_disconnect``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.fakeslack_methods import APP_LEVEL_METHODS, APP_TOKEN_PREFIX, HANDLERS, call_method, respond
from bot.fakeslack_socket import SOCKET_PATH, SocketMode
from bot.fakeslack_state import BOT_ID, BOT_USER_ID, TEAM_ID, Channel, SlackError, Validator, Workspace

__all__ = ["BOT_ID", "BOT_USER_ID", "TEAM_ID", "Call", "Channel", "FakeSlack", "SlackError", "Validator"]

log = logging.getLogger(__name__)

RESPONSE_URL = "response_url"
UPLOAD_URL = "upload_url"
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")
_SERVER_ERROR_BODY = "<html>Server Error | Slack</html>"
_MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class Call:
    """One request the fake answered."""

    method: str
    args: dict[str, Any]
    response: dict[str, Any]
    status: int
    at: float  # time.monotonic() when answered

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    def __str__(self) -> str:
        args = json.dumps(self.args, default=repr, ensure_ascii=False)
        if len(args) > 300:
            args = args[:297] + "..."
        outcome = "ok" if self.ok else str(self.response.get("error", "failed"))
        return f"{self.method} -> {self.status} {outcome} {args}"


@dataclass
class _Fault:
    status: int
    retry_after: int
    error: str | None

    def answer(self) -> tuple[int, dict[str, Any], web.Response]:
        if self.error is not None:
            body = {"ok": False, "error": self.error}
            return 200, body, web.json_response(body)
        if self.status >= 500:
            text = web.Response(status=self.status, text=_SERVER_ERROR_BODY, content_type="text/html")
            return self.status, {"ok": False, "error": "server_error"}, text
        body = {"ok": False, "error": "ratelimited"}
        headers = {"Retry-After": str(self.retry_after)}
        return self.status, body, web.json_response(body, status=self.status, headers=headers)


def _decode_json_fields(args: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str):
            try:
                args[key] = json.loads(value)
            except ValueError:
                pass  # left as a string: the method answers invalid_blocks_format / invalid_arguments
    return args


class FakeSlack:
    """The fake Slack Web API. ``await start()`` (or ``async with``) before use, ``await stop()`` after."""

    def __init__(
        self,
        *,
        validator: Validator | None = None,
        bot_token_prefix: str = "xoxb-",
        strict_channels: bool = False,
        strict_users: bool = False,
        on_call: Callable[[Call], None] | None = None,
    ) -> None:
        self.bot_token_prefix = bot_token_prefix
        self.on_call = on_call
        self.workspace = Workspace(validator=validator, strict_channels=strict_channels, strict_users=strict_users)
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.team_id = TEAM_ID
        self._calls: list[Call] = []
        self._changed = asyncio.Condition()
        self._faults: dict[str, list[_Fault]] = {}
        self._response_urls: dict[str, tuple[str | None, str | None]] = {}
        self._runner: web.AppRunner | None = None
        self._root = ""
        self._socket = SocketMode(self.workspace, self._record)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key:.+}", self._response_url)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get(SOCKET_PATH, self._socket.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._root = f"http://{host}:{port}/"
        self.workspace.upload_base = self._root + "upload/v1/"
        self.workspace.socket_url = f"ws://{host}:{port}{SOCKET_PATH}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._socket.close()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return self._started_root() + "api/"

    @property
    def response_url_base(self) -> str:
        return self._started_root() + "response/"

    def _started_root(self) -> str:
        if not self._root:
            raise RuntimeError("FakeSlack is not started: await fake.start() or use `async with FakeSlack()`")
        return self._root

    def response_url(self, key: str, *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A response URL; POSTs to it are recorded as method ``"response_url"`` with ``response_url_id=key``.

        Bound to ``channel`` (and ``message_ts``), a post also acts on the workspace like Slack:
        ``in_channel`` posts a message, ``replace_original``/``delete_original`` change that message.
        """
        if channel is not None or key not in self._response_urls:
            self._response_urls[key] = (channel, message_ts)
        return self.response_url_base + quote(key, safe="")

    # -- workspace --------------------------------------------------------------------------------
    def add_channel(
        self, channel_id: str, name: str, member: bool = True, *, is_private: bool = False, is_archived: bool = False
    ) -> Channel:
        return self.workspace.add_channel(
            channel_id, name, member=member, is_private=is_private, is_archived=is_archived
        )

    def add_user(self, user_id: str, name: str, **fields: Any) -> dict[str, Any]:
        """Register a user for users.info (fields: real_name, tz, email, is_bot, ...)."""
        return self.workspace.add_user(user_id, name, **fields)

    def _channel_id(self, channel: str) -> str:
        if channel[:1] in ("U", "W") and channel not in self.workspace.channels:
            return "D" + channel[1:]
        return channel

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages in ``channel`` (an id, or a user id for the DM with them), oldest first."""
        return copy.deepcopy(self.workspace.messages.get(self._channel_id(channel), []))

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        for message in self.workspace.messages.get(self._channel_id(channel), []):
            if message["ts"] == ts:
                return copy.deepcopy(message)
        known = [m["ts"] for m in self.workspace.messages.get(self._channel_id(channel), [])]
        raise KeyError(f"no message {ts} in {channel}; messages there: {known}")

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral replies (chat.postEphemeral and ephemeral response_url posts to bound URLs)."""
        found = [
            e
            for e in self.workspace.ephemerals
            if (channel is None or e["channel"] == self._channel_id(channel))
            and (user is None or e.get("user") == user)
        ]
        return copy.deepcopy(found)

    def view(self, view_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.workspace.views[view_id])

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        view_id = self.workspace.home_views.get(user_id)
        return None if view_id is None else self.view(view_id)

    def file(self, file_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.workspace.files[file_id])

    @property
    def validation_errors(self) -> list[str]:
        return self.workspace.validation_errors

    # -- recording --------------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self._calls if c.method == method]

    def clear(self) -> None:
        """Forget recorded calls and validation errors; channels, messages and views stay."""
        self._calls.clear()
        self.workspace.validation_errors.clear()

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[Call]:
        """The first ``count`` recorded calls to ``method`` matching ``predicate``, waiting for them."""

        def matching() -> list[Call]:
            return [c for c in self._calls if c.method == method and (predicate is None or predicate(c))]

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: len(matching()) >= count), timeout)
            except TimeoutError:
                found = len(matching())
                listing = "\n".join(f"  {i}. {c}" for i, c in enumerate(self._calls, 1)) or "  (none)"
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} call(s) to {method}"
                    f"{' matching the predicate' if predicate else ''}; {found} matched. "
                    f"Calls received so far:\n{listing}"
                ) from None
            return matching()[:count]

    async def _record(self, method: str, args: dict[str, Any], response: dict[str, Any], status: int) -> None:
        call = Call(method=method, args=args, response=response, status=status, at=time.monotonic())
        async with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        if self.on_call is not None:
            try:
                self.on_call(call)
            except Exception:
                log.exception("FakeSlack on_call callback failed for %s", method)

    # -- Socket Mode ------------------------------------------------------------------------------
    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push an envelope (slash_commands, interactive, events_api) to the app's newest connection."""
        await self._socket.send(envelope)

    async def socket_wait_connected(self, timeout: float = 5.0, *, count: int = 1) -> None:
        """Wait until an app holds a Socket Mode connection, and ``count`` connections were opened in all."""
        await self._socket.wait_connected(timeout, count)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send ``disconnect`` on every open connection; the app calls apps.connections.open and reconnects."""
        await self._socket.disconnect(reason)

    # -- fault injection --------------------------------------------------------------------------
    def fail_next(
        self, method: str, *, status: int = 429, retry_after: int = 1, error: str | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail.

        HTTP 429 with ``Retry-After`` (default), HTTP ``status`` >= 500 with Slack's HTML error page,
        or, when ``error`` is given, HTTP 200 ``{"ok": false, "error": error}``.
        """
        if error is None and status != 429 and status < 500:
            raise ValueError("status must be 429 or >= 500; pass error=... for an ok:false answer")
        self._faults.setdefault(method, []).extend(_Fault(status, retry_after, error) for _ in range(times))

    def _take_fault(self, method: str) -> _Fault | None:
        pending = self._faults.get(method)
        return pending.pop(0) if pending else None

    # -- HTTP handlers ----------------------------------------------------------------------------
    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise SlackError("invalid_json")
                args.update(body)
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return _decode_json_fields(args)

    def _auth_error(self, method: str, request: web.Request, args: dict[str, Any]) -> SlackError | None:
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else args.get("token")
        if not token:
            return SlackError("not_authed")
        app_level = method in APP_LEVEL_METHODS
        if str(token).startswith(APP_TOKEN_PREFIX if app_level else self.bot_token_prefix):
            return None
        if str(token).startswith("xox" if app_level else APP_TOKEN_PREFIX):  # a real token of the wrong kind
            return SlackError("not_allowed_token_type")
        return SlackError("invalid_auth")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = {}
        try:
            try:
                args = await self._read_args(request)
            except ValueError:
                raise SlackError("invalid_json") from None
            error = self._auth_error(method, request, args)
            args.pop("token", None)
            if method not in HANDLERS:
                raise SlackError("unknown_method", req_method=method)
            if error is not None:
                raise error
            fault = self._take_fault(method)
            if fault is not None:
                status, body, response = fault.answer()
                await self._record(method, args, body, status)
                return response
            body = call_method(self.workspace, method, args)
        except SlackError as failure:
            body = failure.body()
        await self._record(method, args, body, 200)
        return web.json_response(body)

    async def _response_url(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        args = {**(payload if isinstance(payload, dict) else {}), "response_url_id": key}
        fault = self._take_fault(RESPONSE_URL)
        if fault is not None:
            status, body, response = fault.answer()
            await self._record(RESPONSE_URL, args, body, status)
            return response
        status, body = 200, {"ok": True}
        if not isinstance(payload, dict):
            status, body = 400, {"ok": False, "error": "invalid_payload"}
        else:
            channel, message_ts = self._response_urls.get(key, (None, None))
            try:
                respond(self.workspace, _decode_json_fields(dict(payload)), channel, message_ts)
            except SlackError as failure:
                status, body = 400 if failure.error != "message_not_found" else 404, failure.body()
        await self._record(RESPONSE_URL, args, body, status)
        return web.json_response(body, status=status)

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        content = await request.read()
        args: dict[str, Any] = {"file_id": file_id, "content": content, "length": len(content)}
        fault = self._take_fault(UPLOAD_URL)
        if fault is not None:
            status, body, response = fault.answer()
            await self._record(UPLOAD_URL, args, body, status)
            return response
        record = self.workspace.files.get(file_id)
        if record is None:
            await self._record(UPLOAD_URL, args, {"ok": False, "error": "file_not_found"}, 404)
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        record["content"] = content
        await self._record(UPLOAD_URL, args, {"ok": True}, 200)
        return web.Response(text=f"OK - {len(content)}", content_type="text/plain")

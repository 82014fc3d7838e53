"""Socket Mode behind ``bot.fakeslack.FakeSlack``.

``apps.connections.open`` hands out a single-use ``ws://127.0.0.1:PORT/socket-mode?ticket=...`` URL; the
app opens it and gets Slack's ``hello``. A test pushes envelopes (``slash_commands``, ``interactive``,
``events_api``) with ``fake.socket_send`` and waits for the app's answers, recorded as calls with method
``"socket_mode.ack"``; ``fake.socket_disconnect()`` sends ``disconnect`` so the app fetches a new URL and
reconnects. Each envelope goes to one connection (the newest), as Slack sends each envelope once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot.fakeslack_state import APP_ID, Workspace

SOCKET_PATH = "/socket-mode"
ACK = "socket_mode.ack"
CONNECT = "socket_mode.connect"

Record = Callable[[str, dict[str, Any], dict[str, Any], int], Awaitable[None]]


def hello(num_connections: int) -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
        "connection_info": {"app_id": APP_ID},
    }


class SocketMode:
    """The WebSocket side of the fake: connections, envelopes pushed to them and the acks that come back."""

    def __init__(self, workspace: Workspace, record: Record) -> None:
        self.workspace = workspace
        self._record = record
        self._open: list[web.WebSocketResponse] = []
        self._opened = 0
        self._unacked: set[str] = set()
        self._changed = asyncio.Condition()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.workspace.socket_tickets:
            await self._record(CONNECT, {"ticket": ticket}, {"ok": False, "error": "invalid_ticket"}, 401)
            return web.Response(status=401, text="invalid or used ticket", content_type="text/plain")
        self.workspace.socket_tickets.discard(ticket)
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        greeting = hello(len(self._open) + 1)
        await socket.send_json(greeting)
        async with self._changed:
            self._open.append(socket)
            self._opened += 1
            self._changed.notify_all()
        await self._record(CONNECT, {"ticket": ticket}, {"ok": True, "hello": greeting}, 200)
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    await self._acked(message.data)
        finally:
            async with self._changed:
                self._open.remove(socket)
                self._changed.notify_all()
        return socket

    async def _acked(self, text: str) -> None:
        try:
            ack = json.loads(text)
        except ValueError:
            ack = None
        if not isinstance(ack, dict):
            await self._record(ACK, {"raw": text}, {"ok": False, "error": "invalid_json"}, 200)
            return
        envelope_id = ack.get("envelope_id")
        if envelope_id not in self._unacked:  # never sent, or acked already
            await self._record(ACK, ack, {"ok": False, "error": "unknown_envelope_id"}, 200)
            return
        self._unacked.discard(envelope_id)
        await self._record(ACK, ack, {"ok": True}, 200)

    async def send(self, envelope: dict[str, Any]) -> None:
        missing = [key for key in ("envelope_id", "type", "payload") if key not in envelope]
        if missing:
            raise ValueError(f"a Socket Mode envelope needs {', '.join(missing)}")
        if not self._open:
            raise RuntimeError("no app is connected over Socket Mode: await fake.socket_wait_connected() first")
        self._unacked.add(str(envelope["envelope_id"]))
        await self._open[-1].send_json(envelope)

    async def wait_connected(self, timeout: float, count: int) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: bool(self._open) and self._opened >= count), timeout
                )
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for a Socket Mode connection ({count} in all); "
                    f"{self._opened} opened, {len(self._open)} open"
                ) from None

    async def disconnect(self, reason: str) -> None:
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        for socket in list(self._open):
            await socket.send_json(message)

    async def close(self) -> None:
        for socket in list(self._open):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

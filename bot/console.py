"""``releasebot shell``: the same app, handlers and store against an in-process fake Slack.

Type ``/release ...`` as the chosen user and read replies and channel posts as text; press buttons, on channel
messages and on the replies only you see, with ``click <button> [<reference>]``; switch users with
``as <name>``. Lines can come from standard input, so a session can be scripted.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, TextIO

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.console_buttons import Button, Screen, hint
from bot.console_demo import DEMO_CHANNELS, DEMO_USERS, create_demo_workspace
from bot.fakeslack import FakeSlack
from bot.runtime import Runtime, make_client
from bot.settings import Settings
from bot.slack_request import bolt_request
from core.model import DeploymentStatus, Source

TEAM_ID = "T0CONSOLE1"
PIPELINE_WAIT_S = 60.0  # after each command, how long to wait for the pipelines it started
PIPELINE_POLL_S = 0.05


@dataclass
class ConsoleUser:
    user_id: str
    name: str


class Console:
    def __init__(self, runtime: Runtime, fake: FakeSlack, signing_secret: str, out: TextIO) -> None:
        self.runtime = runtime
        self.fake = fake
        self.verifier = SignatureVerifier(signing_secret)
        self.out = out
        self.user = ConsoleUser("U0ALICE001", "alice")
        self._counter = 0
        self._names = {uid: name for name, uid in DEMO_USERS.items()}
        self._channels = {cid: name for name, cid in DEMO_CHANNELS.items()}
        self.screen = Screen()

    # -- output ---------------------------------------------------------------------------------
    def plain(self, text: str) -> str:
        text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
        text = re.sub(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", lambda m: "@" + self._names.get(m.group(1), m.group(1)), text)
        text = re.sub(
            r"<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>",
            lambda m: "#" + self._channels.get(m.group(1), m.group(1)),
            text,
        )
        text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def render_blocks(self, blocks: list[dict[str, Any]] | None, fallback: str) -> list[str]:
        if not blocks:
            return [self.plain(fallback)]
        lines: list[str] = []
        for block in blocks:
            kind = block.get("type")
            if kind == "header":
                lines.append(f"== {block['text']['text']} ==")
            elif kind == "section":
                if block.get("text"):
                    lines.extend(self.plain(block["text"]["text"]).splitlines())
                for field in block.get("fields", []):
                    lines.append("  " + self.plain(field["text"]).replace("\n", ": ", 1))
                if block.get("accessory", {}).get("type") == "button":
                    lines.append(self._button(block["accessory"]))
            elif kind == "context":
                lines.append("  " + " · ".join(self.plain(e.get("text", "")) for e in block.get("elements", [])))
            elif kind == "actions":
                lines.append(
                    "  " + " ".join(self._button(e) for e in block.get("elements", []) if e.get("type") == "button")
                )
            elif kind == "divider":
                lines.append("  ---")
        return lines

    def _button(self, element: dict[str, Any]) -> str:
        return f"[{element['text']['text']}: {hint(element)}]"

    def show(self, call: Any) -> None:
        method, args = call.method, call.args
        if call.status != 200 or not call.response.get("ok", True):
            return
        if method == "response_url":
            updated = args.get("replace_original") and self.screen.clicked(str(args.get("response_url_id", "")))
            self._print("(only you, updated)" if updated else "(only you)", args.get("blocks"), args.get("text", ""))
        elif method == "chat.postEphemeral":
            self._print("(only you)", args.get("blocks"), args.get("text", ""))
        elif method in ("chat.postMessage", "chat.update"):
            channel = str(args.get("channel", ""))
            where = self._channels.get(channel) or self._names.get(channel) or channel
            # A DM goes to a user id; a channel configured by name is posted to by name, as Slack allows.
            is_user = re.fullmatch(r"[UW][A-Z0-9]{6,}", channel) is not None
            prefix = f"DM to @{where}" if is_user else "#" + where.lstrip("#")
            if args.get("thread_ts"):
                prefix += " (thread)"
            if method == "chat.update":
                prefix += " (updated)"
            self._print(prefix, args.get("blocks"), args.get("text", ""))
        elif method == "files.completeUploadExternal":
            self._print("(file)", None, f"uploaded {json.dumps(args.get('files'))}")

    def _print(self, prefix: str, blocks: Any, text: str) -> None:
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        lines = self.render_blocks(blocks, text)
        print(f"{prefix} releasebot:", file=self.out)
        for line in lines:
            print(f"    {line}", file=self.out)
        self.out.flush()

    # -- input ----------------------------------------------------------------------------------
    def _signed(self, body: str, content_type: str) -> AsyncBoltRequest:
        ts = str(int(time.time()))
        headers = {
            "content-type": content_type,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }
        return bolt_request(body, headers)

    def _next_id(self) -> str:
        self._counter += 1
        return f"{self._counter}.{int(time.time())}.{secrets.token_hex(8)}"

    async def slash(self, text: str) -> None:
        trigger = self._next_id()
        self.screen.answering(trigger, user=self.user.user_id, channel=DEMO_CHANNELS["payments-releases"])
        fields = {
            "token": "console",
            "team_id": TEAM_ID,
            "team_domain": "console",
            "channel_id": DEMO_CHANNELS["payments-releases"],
            "channel_name": "payments-releases",
            "user_id": self.user.user_id,
            "user_name": self.user.name,
            "command": "/release",
            "text": text,
            "api_app_id": "A0CONSOLE1",
            "is_enterprise_install": "false",
            "response_url": self.fake.response_url(trigger),
            "trigger_id": trigger,
        }
        await self._dispatch(self._signed(urllib.parse.urlencode(fields), "application/x-www-form-urlencoded"))

    async def click(self, action: str, value: str | None) -> None:
        found = self.screen.find(self.fake.calls, user=self.user.user_id, action=action, value=value)
        if found is None:
            self._no_button(action, value)
            return
        trigger = self._next_id()
        channel = found.shown.channel
        self.screen.answering(trigger, user=self.user.user_id, channel=channel, clicked=found.key)
        payload = {
            "type": "block_actions",
            "user": {
                "id": self.user.user_id,
                "username": self.user.name,
                "name": self.user.name,
                "team_id": TEAM_ID,
            },
            "api_app_id": "A0CONSOLE1",
            "token": "console",
            "trigger_id": trigger,
            "container": {
                "type": "message",
                "message_ts": found.shown.ts,
                "channel_id": channel,
                "is_ephemeral": found.shown.ephemeral,
            },
            "team": {"id": TEAM_ID, "domain": "console"},
            "channel": {"id": channel, "name": self._channels.get(channel, channel)},
            **self._message_of(found),
            "state": {"values": {}},
            "response_url": self.fake.response_url(trigger),
            "actions": [{**found.element, "block_id": found.block_id, "action_ts": str(time.time())}],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        await self._dispatch(self._signed(body, "application/x-www-form-urlencoded"))

    @staticmethod
    def _message_of(found: Button) -> dict[str, Any]:
        """Slack sends the message clicked, except an ephemeral one."""
        if found.shown.ephemeral:
            return {}
        shown = found.shown
        return {"message": {"type": "message", "ts": shown.ts, "text": shown.text, "blocks": shown.blocks}}

    def _no_button(self, action: str, value: str | None) -> None:
        what = f"`{action}`" if value is None else f"`{action}` for {value}"
        hints = self.screen.hints(self.fake.calls, user=self.user.user_id)
        offer = f" Buttons you can press now: {', '.join(f'`{h}`' for h in hints)}." if hints else ""
        print(f"No button {what} in the messages you can see.{offer}", file=self.out)

    async def _dispatch(self, request: AsyncBoltRequest) -> None:
        response = await self.runtime.bolt.async_dispatch(request)
        if response.status != 200:
            print(f"(Slack would show an error: HTTP {response.status})", file=self.out)
        elif response.body:
            print(f"(ack) {response.body}", file=self.out)
        await self.settle()

    async def settle(self) -> None:
        """Wait for the work after the ack, for every deployment it started to end its pipeline (up to
        PIPELINE_WAIT_S), and for every message all that implies to be delivered, so output comes in order."""
        await self._deliver_all()
        deadline = time.monotonic() + PIPELINE_WAIT_S
        while await self._pipeline_running():
            if time.monotonic() > deadline:
                print(f"(a pipeline is still running after {PIPELINE_WAIT_S:.0f} s; carrying on)", file=self.out)
                break
            await asyncio.sleep(PIPELINE_POLL_S)
            await self._deliver_all()
        await self._deliver_all()

    async def _deliver_all(self) -> None:
        for _ in range(50):
            await self.runtime.deps.tasks.drain(timeout=30)
            if await self.runtime.delivery.deliver_due() == 0 and self.runtime.deps.tasks.pending == 0:
                return

    async def _pipeline_running(self) -> bool:
        async with self.runtime.uow() as uow:
            active = await uow.deployments.active_list()
        return any(d.status in (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING) for d in active)

    def switch(self, who: str) -> None:
        who = who.lstrip("@")
        if who in DEMO_USERS:
            self.user = ConsoleUser(DEMO_USERS[who], who)
        elif re.match(r"^[UW][A-Z0-9]{6,}$", who):
            self.user = ConsoleUser(who, self._names.get(who, who))
        else:
            known = ", ".join(DEMO_USERS)
            print(f"Unknown user `{who}`: use one of {known}, or a Slack id like U0123ABCD.", file=self.out)
            return
        print(f"You are now @{self.user.name} ({self.user.user_id}).", file=self.out)

    async def handle(self, line: str) -> bool:
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line in ("quit", "exit"):
            return False
        if line.startswith("/release"):
            await self.slash(line[len("/release") :].strip())
        elif line.startswith("as "):
            self.switch(line[3:].strip())
        elif line == "click" or line.startswith("click "):
            parts = line.split()
            if len(parts) not in (2, 3):
                print(
                    "Usage: click <button> [<reference>], for example `click approve D-42`; without a reference, "
                    "the newest such button (`click confirm` after a `--dry-run`).",
                    file=self.out,
                )
            else:
                await self.click(parts[1], parts[2] if len(parts) == 3 else None)
        elif line in ("help", "?"):
            print(SHELL_HELP, file=self.out)
        else:
            print(
                f"I only understand `/release ...`, `click`, `as` and `quit` here. {SHELL_HELP}",
                file=self.out,
            )
        return True


SHELL_HELP = (
    "Type `/release help` for the bot's commands; `as bob` to act as another user; "
    "`click approve D-42` to press a button (`click confirm` presses the newest Confirm); `quit` to leave."
)


async def run_shell(
    settings: Settings, *, as_user: str, demo: bool, out: TextIO = sys.stdout, lines: TextIO = sys.stdin
) -> int:
    signing_secret = secrets.token_hex(16)
    async with FakeSlack() as fake:
        for name, channel_id in DEMO_CHANNELS.items():
            fake.add_channel(channel_id, name, member=True)
        client = make_client("xoxb-console-token", fake.base_url)
        runtime = Runtime(
            settings,
            client=client,
            source=Source.CONSOLE,
            signing_secret=signing_secret,
            pace_s=0,
            migrate=True,
        )
        await runtime.start(deliver=False)
        console = Console(runtime, fake, signing_secret, out)
        fake.on_call = console.show
        try:
            if demo:
                created = await create_demo_workspace(runtime.uow, runtime.clock)
                if created:
                    print(created, file=out)
            console.switch(as_user)
            interactive = lines.isatty()
            if interactive:
                print(f"releasebot shell on {settings.database_url_resolved}. {SHELL_HELP}", file=out)
            loop = asyncio.get_running_loop()
            while True:
                if interactive:
                    print(f"{console.user.name}> ", end="", file=out, flush=True)
                line = await loop.run_in_executor(None, lines.readline)
                if not line:
                    break
                if not interactive and line.strip():
                    print(f"{console.user.name}> {line.rstrip()}", file=out)
                if not await console.handle(line):
                    break
        finally:
            await runtime.stop()
    return 0

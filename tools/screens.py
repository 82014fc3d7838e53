"""Render every Slack surface of releasebot to Block Kit JSON, to check by eye and against Slack's schema.

    python -m tools.screens [--out docs/screens]

It runs the real app (handlers, store, pipeline) in this process against the recording fake Slack, on a
temporary SQLite store configured from ``examples/pipeline.yml``, plays a release scenario as the demo
users (requests, approvals, a failing smoke test, a rollback, modals, App Home, the digest) and writes
what Slack was sent, one file per surface: ``<name>.json`` holds what you can paste into Block Kit
Builder (``{"blocks": [...]}`` for a message, the view for a modal or the Home tab). Each is validated
against ``../shared/slack`` (schema and limits); ``README.md`` beside them shows each surface as text.
Exits 1 when a surface is missing or invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import secrets
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Screen:
    name: str
    title: str
    surface: str  # message | modal | home
    payload: dict[str, Any]


Finder = Callable[[list[Any]], dict[str, Any] | None]


def _blocks_of(args: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = args.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def _view_of(args: dict[str, Any]) -> dict[str, Any]:
    view = args.get("view") or {}
    return json.loads(view) if isinstance(view, str) else dict(view)


def _text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


class Recorder:
    """Collects screens from the fake Slack's calls and from HTTP answers (modal updates)."""

    def __init__(self) -> None:
        self.screens: list[Screen] = []
        self.missing: list[str] = []

    def message(
        self, name: str, title: str, calls: list[Any], predicate: Callable[[Any], bool], last: bool = False
    ) -> None:
        found = [c for c in calls if predicate(c)]
        if not found:
            self.missing.append(name)
            return
        args = (found[-1] if last else found[0]).args
        self.screens.append(Screen(name, title, "message", {"text": args.get("text", ""), "blocks": _blocks_of(args)}))

    def view(self, name: str, title: str, surface: str, view: dict[str, Any] | None) -> None:
        if not view:
            self.missing.append(name)
            return
        self.screens.append(Screen(name, title, surface, view))


def validate(screen: Screen) -> list[str]:
    from tests.support import blockkit

    if screen.surface == "message":
        return blockkit.validate("message", screen.payload)
    return blockkit.validate(screen.surface, blockkit.view_as_request(screen.payload))


async def play(recorder: Recorder, work: Path) -> str:
    """The scenario; returns the console transcript."""
    from bot.config_cli import apply_config_file
    from bot.console import Console
    from bot.console_demo import DEMO_CHANNELS
    from bot.fakeslack import FakeSlack
    from bot.runtime import Runtime, make_client
    from bot.settings import load_settings
    from core.model import Source

    transcript = io.StringIO()
    secret = secrets.token_hex(16)
    database_url = f"sqlite+aiosqlite:///{work}/screens.db"
    settings = load_settings(_env_file=None, database_url=database_url, admins="U0ALICE001", log_level="WARNING")
    with contextlib.redirect_stdout(transcript):
        if await apply_config_file(settings, ROOT / "examples" / "pipeline.yml", actor_id="screens") != 0:
            raise SystemExit(f"examples/pipeline.yml did not apply:\n{transcript.getvalue()}")
    async with FakeSlack() as fake:
        for name, channel_id in DEMO_CHANNELS.items():
            fake.add_channel(channel_id, name, member=True)
        runtime = Runtime(
            settings,
            client=make_client("xoxb-screens", fake.base_url),
            source=Source.SLACK,  # as in Slack: commands without arguments open forms
            signing_secret=secret,
            pace_s=0,
            migrate=True,
        )
        await runtime.start(deliver=False)
        try:
            await add_runbooks(runtime)
            console = Console(runtime, fake, secret, transcript)
            fake.on_call = console.show
            await scenario(console, fake, recorder)
        finally:
            await runtime.stop()
    return transcript.getvalue()


RUNBOOKS = (
    (
        "Smoke test fails after a payments-api deploy",
        "1. Open the smoke stage's output in the deployment's thread.\n2. If refunds fail, press *Roll back*.\n"
        "3. Page #payments-oncall when the rollback fails too.",
        "production",
        "smoke, rollback",
    ),
    ("Rotate the payments-api database credentials", "Run `make rotate-db` from the ops repo.", None, "database"),
)


async def add_runbooks(runtime: Any) -> None:
    from core.model import Actor, Role, Source
    from core.runbooks import RunbookDraft, save_runbook

    alice = Actor(user_id="U0ALICE001", role=Role.ADMIN, source=Source.CONSOLE)
    async with runtime.uow() as uow:
        for title, content, environment, tags in RUNBOOKS:
            draft = RunbookDraft(title, content, service="payments-api", environment=environment, tags=tags)
            await save_runbook(uow, actor=alice, runbook_id=None, draft=draft, now=runtime.clock(), request_id=None)
        await uow.commit()


async def scenario(console: Any, fake: Any, recorder: Recorder) -> None:
    async def run(*lines: str) -> None:
        for line in lines:
            print(f"{console.user.name}> {line}", file=console.out)
            await console.handle(line)

    def calls(method: str) -> list[Any]:
        return [c for c in fake.calls if c.method == method]

    def has(call: Any, needle: str) -> bool:
        return needle in json.dumps(call.args)

    await run(
        "as bob",
        '/release create payments-api v2.0.0 commit 4be1c0d notes "Faster refunds"',
        "/release deploy payments-api v2.0.0 to production",
    )
    recorder.message(
        "approval-card",
        "Approval card in the service's channel",
        calls("chat.postMessage"),
        lambda c: has(c, "D-1") and has(c, "deployment_approve"),
    )
    await run("as carol", "click approve D-1")
    recorder.message(
        "progress-message",
        "The deployment's message while its stages run",
        calls("chat.update"),
        lambda c: has(c, "D-1") and has(c, "running"),
    )
    recorder.message(
        "success-message",
        "The deployment's message once it succeeded",
        calls("chat.update"),
        lambda c: has(c, "D-1"),
        last=True,
    )
    recorder.message(
        "stage-output",
        "Stage output in the message's thread",
        calls("chat.postMessage"),
        lambda c: bool(c.args.get("thread_ts")),
    )
    await run(
        "as bob",
        '/release create payments-api v2.0.1-bad commit 9d2e7a1 notes "Refund batching"',
        "/release deploy payments-api v2.0.1-bad to production",
        "as carol",
        "click approve D-2",
    )
    recorder.message(
        "failure-message",
        "A failed deployment: the failing stage, runbooks and the Roll back button",
        calls("chat.update"),
        lambda c: has(c, "D-2") and has(c, "deployment_rollback"),
        last=True,
    )
    recorder.message(
        "outcome-dm",
        "Direct message to the requester",
        calls("chat.postMessage"),
        lambda c: str(c.args.get("channel", "")).startswith("U"),
    )
    await run("as bob", "click rollback D-2")
    recorder.message(
        "rollback-message",
        "The rollback's deployment message",
        calls("chat.update"),
        lambda c: has(c, "D-3"),
        last=True,
    )
    await run("/release unlock production payments-api", "/release history payments-api production")
    recorder.message("history", "/release history", calls("response_url"), lambda c: has(c, "History"), last=True)
    await run("/release where payments-api")
    recorder.message("where", "/release where", calls("response_url"), lambda c: has(c, "staging"), last=True)
    await run("/release metrics team payments last 30d")
    recorder.message("metrics", "/release metrics", calls("response_url"), lambda c: has(c, "Lead time"), last=True)
    await run("/release digest preview team payments")
    recorder.message("digest", "The weekly digest", calls("response_url"), lambda c: has(c, "digest"), last=True)
    await run("/release deploy payments-api v2.0.0 to staging --dry-run")
    recorder.message(
        "dry-run", "Deploy preview (--dry-run)", calls("response_url"), lambda c: has(c, "Confirm"), last=True
    )

    def latest_view(opened_at: int) -> dict[str, Any] | None:
        """The form as it stands: the last views.update after the views.open at ``opened_at``, or the opened view."""
        views = [c for c in fake.calls[opened_at:] if c.method in ("views.open", "views.update")]
        return _view_of(views[-1].args) if views else None

    await deploy_form_steps(console, fake, recorder, latest_view)
    for name, title, line in (
        ("create-modal", "Create-release form", "/release create"),
        ("runbook-modal", "Runbook form", "/release runbook add"),
    ):
        start = len(fake.calls)
        await run(line)
        recorder.view(name, title, "modal", latest_view(start))
    from tests.support.slack_requests import app_home_opened

    await run("as carol")
    await console._dispatch(console._signed(app_home_opened(console.user.user_id).decode(), "application/json"))
    await console.settle()
    published = calls("views.publish")
    recorder.view("app-home", "App Home", "home", _view_of(published[-1].args) if published else None)


ELEMENT_NAMES = {
    "external_select": "type-ahead picker",
    "static_select": "picker",
    "plain_text_input": "text",
    "multi_static_select": "multi-picker",
    "datepicker": "date",
    "timepicker": "time",
}


def view_lines(view: dict[str, Any], text: Any) -> list[str]:
    """A form as text: title, fields with their kind, buttons; other blocks as the console shows them."""
    lines = [f"[{view.get('title', {}).get('text', '')}]"] if view.get("type") == "modal" else []
    for block in view.get("blocks", []):
        if block.get("type") == "input":
            element = block.get("element", {})
            kind = ELEMENT_NAMES.get(element.get("type"), element.get("type"))
            optional = " (optional)" if block.get("optional") else ""
            hint = f": {block['hint']['text']}" if block.get("hint") else ""
            lines.append(f"  {block['label']['text']}{optional} <{kind}>{hint}")
        else:
            lines += text.render_blocks([block], "")
    buttons = [view[key]["text"] for key in ("close", "submit") if view.get(key)]
    if buttons:
        lines.append("  " + " ".join(f"[{label}]" for label in buttons))
    return lines


async def deploy_form_steps(console: Any, fake: Any, recorder: Recorder, latest_view: Any) -> None:
    """The deploy form as it opens, once a service is picked, and the preview its submission shows."""
    from handlers import ids
    from tests.support.form_requests import external_option, view_action
    from tests.support.slack_requests import view_submission

    async def post(body: bytes) -> Any:
        response = await console.runtime.bolt.async_dispatch(
            console._signed(body.decode(), "application/x-www-form-urlencoded")
        )
        await console.settle()
        return json.loads(response.body) if response.body else None

    start = len(fake.calls)
    print(f"{console.user.name}> /release deploy", file=console.out)
    await console.handle("/release deploy")
    recorder.view("deploy-modal", "Deploy form, as it opens", "modal", latest_view(start))
    view_id = next(c for c in fake.calls[start:] if c.method == "views.open").response["view"]["id"]
    user = console.user.user_id
    selected = external_option("payments-api")
    await post(view_action(ids.ACTION_FORM_SERVICE, view=fake.view(view_id), user_id=user, selected=selected))
    view = fake.view(view_id)
    recorder.view("deploy-modal-versions", "Deploy form, once the service is picked", "modal", latest_view(start))
    values = {
        ids.BLOCK_FORM_SERVICE: {ids.ACTION_FORM_SERVICE: {"type": "external_select", "selected_option": selected}},
        f"{ids.BLOCK_FORM_VERSION}:payments-api": "v2.0.0",
        ids.BLOCK_FORM_ENVIRONMENT: "staging",
    }
    body = view_submission(
        view["callback_id"], values, user_id=user, view=view, private_metadata=view["private_metadata"]
    )
    answer = await post(body)
    recorder.view("deploy-preview", "Deploy form: the preview, with Confirm", "modal", (answer or {}).get("view"))


def write(out: Path, recorder: Recorder, transcript: str) -> list[str]:
    from bot.console import Console

    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = [f"{name}: not produced by the scenario" for name in recorder.missing]
    text = Console.__new__(Console)
    from bot.console_demo import DEMO_CHANNELS, DEMO_USERS

    text._names = {uid: name for name, uid in DEMO_USERS.items()}  # type: ignore[attr-defined]
    text._channels = {cid: name for name, cid in DEMO_CHANNELS.items()}  # type: ignore[attr-defined]
    lines = [
        "# What a user sees",
        "",
        "Generated by `python -m tools.screens`; each JSON file pastes into Block Kit Builder.",
        "",
    ]
    for screen in recorder.screens:
        (out / f"{screen.name}.json").write_text(json.dumps(screen.payload, indent=2, ensure_ascii=False) + "\n")
        problems += [f"{screen.name}: {problem}" for problem in validate(screen)]
        if screen.surface == "message":
            rendered = text.render_blocks(screen.payload.get("blocks", []), str(screen.payload.get("text", "")))
        else:
            rendered = view_lines(screen.payload, text)
        lines += [f"## {screen.title}", "", f"`{screen.name}.json` ({screen.surface})", "", "```", *rendered, "```", ""]
    (out / "README.md").write_text("\n".join(lines))
    (out / "transcript.txt").write_text(transcript)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screens", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screens")
    args = parser.parse_args(argv)
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="releasebot-screens-") as work, contextlib.chdir(ROOT):
        transcript = asyncio.run(play(recorder, Path(work)))
    problems = write(args.out, recorder, transcript)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(recorder.screens)} surfaces written to {args.out}; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

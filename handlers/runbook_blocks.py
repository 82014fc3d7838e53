"""Block Kit for runbooks: the add/edit form, a runbook shown in a modal or a message, search results, and the
links on a deployment's message. Pure builders; every user string is escaped."""

from __future__ import annotations

import json
import re
from typing import Any

from core import runbooks
from core.model import Runbook, RunbookHit
from core.runbooks import RunbookForm, SavedRunbook
from core.text import escape, truncate
from handlers import ids
from handlers.blocks import SECTION_MAX, Block, context, header, section

NO_CHOICE = "none"  # the option value of "no service" / "any environment"
MAX_OPTIONS = 100  # a static select's limit; with more services or environments the form asks for a name
SNIPPET_MAX = 600

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit)}


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label, 75), "value": value}


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> Block:
    block: Block = {"type": "input", "block_id": block_id, "label": _plain(label, 2000), "element": element}
    if optional:
        block["optional"] = True
    if hint:
        block["hint"] = _plain(hint, 2000)
    return block


def _text_input(action_id: str, value: str | None, max_length: int, *, multiline: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "max_length": max_length}
    if multiline:
        element["multiline"] = True
    if value:
        element["initial_value"] = value
    return element


def _choice(action_id: str, names: list[str], current: str | None, none_label: str) -> dict[str, Any]:
    """A static select of ``names``, or a text input when there are more than a select can hold."""
    if len(names) >= MAX_OPTIONS:
        return _text_input(action_id, current, 63)
    options = [_option(none_label, NO_CHOICE), *(_option(name, name) for name in names)]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": _plain(none_label, 150),
        "options": options,
    }
    chosen = next((option for option in options[1:] if option["value"] == current), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return element


def form_modal(form: RunbookForm) -> dict[str, Any]:
    """The add/edit form; ``private_metadata`` carries the runbook being edited (null for a new one)."""
    existing = form.runbook
    title = f"Edit {existing.reference}" if existing else "New runbook"
    return {
        "type": "modal",
        "callback_id": ids.VIEW_RUNBOOK_FORM,
        "private_metadata": json.dumps({"runbook": existing.id if existing else None}),
        "title": _plain(title, 24),
        "submit": _plain("Save", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            _input(
                ids.BLOCK_RUNBOOK_TITLE,
                "Title",
                _text_input(ids.ACTION_RUNBOOK_TITLE, existing.title if existing else None, runbooks.TITLE_MAX),
            ),
            _input(
                ids.BLOCK_RUNBOOK_CONTENT,
                "Steps",
                _text_input(
                    ids.ACTION_RUNBOOK_CONTENT,
                    existing.content if existing else None,
                    runbooks.CONTENT_MAX,
                    multiline=True,
                ),
                hint="Markdown: # headings, **bold**, `code`, - lists, [links](https://…).",
            ),
            _input(
                ids.BLOCK_RUNBOOK_SERVICE,
                "Service",
                _choice(
                    ids.ACTION_RUNBOOK_SERVICE, form.services, existing.service if existing else None, "No service"
                ),
                optional=True,
                hint="Failure and rollback messages of this service link the runbook.",
            ),
            _input(
                ids.BLOCK_RUNBOOK_ENVIRONMENT,
                "Environment",
                _choice(
                    ids.ACTION_RUNBOOK_ENVIRONMENT, form.environments, existing.environment if existing else None, "Any"
                ),
                optional=True,
            ),
            _input(
                ids.BLOCK_RUNBOOK_TAGS,
                "Tags",
                _text_input(ids.ACTION_RUNBOOK_TAGS, ", ".join(existing.tags) if existing else None, 400),
                optional=True,
                hint="Comma-separated, like: database, failover",
            ),
        ],
    }


def message_modal(title: str, mrkdwn: str) -> dict[str, Any]:
    """A modal that only says something: the placeholder while a form loads, or why it can't be used."""
    return {
        "type": "modal",
        "callback_id": ids.VIEW_RUNBOOK,
        "title": _plain(title, 24),
        "close": _plain("Close", 24),
        "blocks": [section(mrkdwn, ids.BLOCK_REPLY)],
    }


def saved_text(saved: SavedRunbook) -> str:
    runbook = saved.runbook
    what = f"*{runbook.reference}* {escape(runbook.title)}"
    if saved.created:
        return f":white_check_mark: Saved {what}. Find it with `/release runbook <words>`."
    if not saved.changed:
        return f"Nothing changed in {what}."
    return f":white_check_mark: Updated {what} ({', '.join(saved.changed)})."


def saved_modal(saved: SavedRunbook) -> dict[str, Any]:
    """What the form turns into once saved: the confirmation."""
    return {
        "type": "modal",
        "callback_id": ids.VIEW_RUNBOOK,
        "title": _plain("Runbook saved", 24),
        "close": _plain("Done", 24),
        "blocks": [section(saved_text(saved), ids.BLOCK_REPLY)],
    }


def scope_line(runbook: Runbook) -> str:
    """Service, environment and tags, escaped."""
    parts = [escape(runbook.service) if runbook.service else "any service"]
    parts.append(escape(runbook.environment) if runbook.environment else "any environment")
    if runbook.tags:
        parts.append("tags: " + ", ".join(escape(tag) for tag in runbook.tags))
    return " · ".join(parts)


def _mrkdwn_line(line: str) -> str:
    """One escaped line of markdown, in Slack's mrkdwn (links stay visible as text and address)."""
    line = escape(line)
    heading = _HEADING.match(line)
    if heading:
        return f"*{heading.group(1)}*" if heading.group(1) else ""
    line = _BULLET.sub(lambda m: f"{m.group(1)}• ", line)
    line = _BOLD.sub(r"*\1*", line)
    return _LINK.sub(r"\1 (\2)", line)


def content_sections(content: str, limit: int = SECTION_MAX - 100) -> list[Block]:
    """The content as mrkdwn sections, split at line ends so each stays under Slack's limit."""
    pieces: list[str] = []
    for raw in content.splitlines():
        line = _mrkdwn_line(raw)
        pieces.extend(line[start : start + limit] for start in range(0, max(len(line), 1), limit))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 1 + len(piece) > limit:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n{piece}" if current else piece
    chunks.append(current)
    return [section(chunk) for chunk in chunks if chunk.strip()] or [section("_(empty)_")]


def runbook_blocks(runbook: Runbook) -> list[Block]:
    return [
        header(f"{runbook.reference}: {runbook.title}"),
        context(scope_line(runbook)),
        *content_sections(runbook.content),
    ]


def runbook_modal(runbook: Runbook) -> dict[str, Any]:
    """A runbook to read, for whoever pressed its button."""
    return {
        "type": "modal",
        "callback_id": ids.VIEW_RUNBOOK,
        "title": _plain(f"Runbook {runbook.reference}", 24),
        "close": _plain("Close", 24),
        "blocks": runbook_blocks(runbook)[:100],
    }


def runbook_message(runbook: Runbook) -> tuple[str, list[Block]]:
    """The same, as a message meant only for the reader."""
    return escape(f"{runbook.reference}: {runbook.title}"), runbook_blocks(runbook)[:50]


def show_button(runbook: Runbook, label: str = "Show") -> dict[str, Any]:
    # One action_id per runbook: action_ids must differ within a block, and a message may link several.
    return {
        "type": "button",
        "action_id": f"{ids.ACTION_RUNBOOK_SHOW}:{runbook.id}",
        "value": runbook.reference,
        "text": _plain(label, 75),
    }


def snippet_text(snippet: str) -> str:
    """A search excerpt in mrkdwn: escaped, the matched words in bold, on one line."""
    flat = " ".join(snippet.split())
    for mark in ("*", "`", "~"):
        flat = flat.replace(mark, "")
    flat = escape(truncate(flat, SNIPPET_MAX))
    return flat.replace(runbooks.MARK_START, "*").replace(runbooks.MARK_END, "*")


def runbook_line(runbook: Runbook) -> str:
    return f"*{runbook.reference}* {escape(truncate(runbook.title, 200))}\n{scope_line(runbook)}"


def hit_section(hit: RunbookHit) -> Block:
    text = runbook_line(hit.runbook)
    if hit.snippet.strip():
        text += f"\n>{snippet_text(hit.snippet)}"
    block = section(text)
    block["accessory"] = show_button(hit.runbook)
    return block


def listed_section(runbook: Runbook) -> Block:
    block = section(runbook_line(runbook))
    block["accessory"] = show_button(runbook)
    return block


def link_blocks(linked: list[Runbook], reference: str) -> list[Block]:
    """The runbooks linked from a deployment's message: one button each, showing it to whoever presses."""
    if not linked:
        return []
    buttons = [show_button(runbook, truncate(f"{runbook.reference}: {runbook.title}", 75)) for runbook in linked]
    return [
        context(":book: Runbooks that may help:"),
        {"type": "actions", "block_id": f"{ids.BLOCK_RUNBOOKS}:{reference}", "elements": buttons},
    ]

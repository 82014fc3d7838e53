"""Block Kit for ``/release audit``: one line per entry, packed into a handful of sections."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.audit_log import describe
from core.model import AuditEntry, AuditFilter
from core.text import escape, mention, truncate
from handlers import ids
from handlers.blocks import Rendered, context, packed, reply, section, slack_time

SUMMARY_MAX = 100
# Lines per section are packed up to this many characters (a section holds 3000).


def summary(details: dict[str, Any]) -> str:
    """``key=value, ...`` of the non-empty details, shortened, then escaped: no user text gets through raw."""
    parts = []
    for key, value in details.items():
        if value in (None, "", [], {}):
            continue
        shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
        parts.append(f"{key}={shown}")
    return escape(truncate(", ".join(parts), SUMMARY_MAX))


def entry_line(entry: AuditEntry) -> str:
    line = f"`{entry.reference}` {slack_time(entry.at)} {mention(entry.actor)} *{escape(entry.action)}*"
    if entry.target:
        line += f" {escape(truncate(entry.target, 120))}"
    details = summary(entry.details)
    return f"{line}: {details}" if details else line


def listing(entries: Sequence[AuditEntry], where: AuditFilter) -> Rendered:
    filters = describe(where)
    if not entries:
        return reply(f"No audit entries match{f' ({filters})' if filters else ''}.")
    count = "the newest entry" if len(entries) == 1 else f"the {len(entries)} newest entries"
    heading = f"*Audit log*: {count}{f' ({filters})' if filters else ''}"
    lines = [entry_line(entry) for entry in entries]
    blocks = [
        section(heading, ids.BLOCK_REPLY),
        *packed(lines),
        context("Newest first. `/release audit export` with the same filters sends every match to you as CSV."),
    ]
    return "\n".join([heading, *lines]), blocks

"""Reading the audit trail: the recent-entries listing and the CSV export, for those allowed to."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core import audit
from core.durations import parse_duration
from core.errors import Invalid, NotFound
from core.model import Actor, AuditEntry, AuditFilter, DeploymentSignoff
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.text import escape, mention, truncate

LIST_DEFAULT = 20
LIST_MAX = 50  # one Slack message: the listing packs its lines into far fewer than 50 blocks
EXPORT_MAX = 100_000
EXPORT_PAGE = 1000

EXPORTED = "audit.export"
EXPORT_FAILED = "audit.export_failed"

CSV_COLUMNS = (
    "id",
    "at",
    "actor",
    "action",
    "target",
    "source",
    "request_id",
    "details",
    "hash",
    "prev_hash",
    "requester",
    "approvers",
    "bypasses",
)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DEPLOYMENT = re.compile(r"^D-(\d{1,12})$")


@dataclass(frozen=True)
class Since:
    """The start of a ``since``: a calendar day (from midnight UTC) or a duration back from now."""

    day: date | None = None
    seconds: int | None = None

    def start(self, now: datetime) -> datetime:
        if self.day is not None:
            return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return now - timedelta(seconds=self.seconds or 0)


def parse_since(text: str) -> Since:
    """``2026-11-01`` (a day, in UTC) or a duration such as ``7d`` or ``36h``."""
    value = text.strip()
    if _DAY.match(value):
        try:
            return Since(day=date.fromisoformat(value))
        except ValueError:
            raise Invalid(f"`{escape(value)}` is not a date on the calendar.") from None
    try:
        return Since(seconds=parse_duration(value))
    except Invalid:
        raise Invalid(
            f"`{escape(truncate(value, 40))}` is neither a date nor a duration: "
            "write a day like `2026-11-01` (UTC) or a duration like `7d` or `12h`."
        ) from None


def describe(where: AuditFilter) -> str:
    """The filters in words, for a heading or an audit entry (escaped for mrkdwn)."""
    parts = []
    if where.service:
        parts.append(f"service {escape(where.service)}")
    if where.actor:
        parts.append(f"by {mention(where.actor)}")
    if where.action:
        parts.append(f"action `{escape(where.action)}…`")
    if where.since:
        parts.append(f"since {where.since.strftime('%Y-%m-%d %H:%M UTC')}")
    return ", ".join(parts)


def filter_details(where: AuditFilter, limit: int | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "service": where.service,
        "actor": where.actor,
        "action": where.action,
        "since": iso(where.since) if where.since else None,
        "limit": limit,
    }
    return {key: value for key, value in found.items() if value is not None}


async def recent_entries(
    uow: UnitOfWork, *, actor: Actor, where: AuditFilter, limit: int = LIST_DEFAULT
) -> Sequence[AuditEntry]:
    """Readers of the audit log see the newest matching entries first, at most ``LIST_MAX`` at a time."""
    require(actor, Permission.READ_AUDIT)
    if not 1 <= limit <= LIST_MAX:
        raise Invalid(
            f"A listing shows 1 to {LIST_MAX} entries, not {limit}.",
            hint="`/release audit export` sends more as a CSV file.",
        )
    return await uow.audit.search(where, limit=limit)


@dataclass(frozen=True)
class AuditExport:
    filename: str
    content: bytes
    count: int
    truncated: bool  # more entries matched than an export holds (EXPORT_MAX)
    sha256: str


async def export_entries(
    uow: UnitOfWork,
    *,
    actor: Actor,
    where: AuditFilter,
    limit: int | None,
    now: datetime,
    request_id: str | None,
) -> AuditExport:
    """The matching entries (the newest ``limit``, at most ``EXPORT_MAX``) as CSV, oldest first.

    The export is itself audited (``audit.export``: filters, count, the file's SHA-256) in the same
    transaction, so an export the log does not show never happened.
    """
    require(actor, Permission.EXPORT_AUDIT)
    if limit is not None and not 1 <= limit <= EXPORT_MAX:
        raise Invalid(f"An export holds 1 to {EXPORT_MAX} entries, not {limit}.")
    wanted = limit if limit is not None else EXPORT_MAX
    chunks, count, truncated = await _csv_chunks(uow, where, wanted, capped=limit is None)
    if count == 0:
        filters = describe(where)
        raise NotFound(f"No audit entries match{f' ({filters})' if filters else ''}: there is nothing to export.")
    content = "".join([_csv_text([CSV_COLUMNS]), *reversed(chunks)]).encode()
    digest = hashlib.sha256(content).hexdigest()
    await audit.record(
        uow,
        actor=actor,
        action=EXPORTED,
        target=None,
        now=now,
        request_id=request_id,
        details={"filters": filter_details(where, limit), "entries": count, "truncated": truncated, "sha256": digest},
    )
    filename = f"releasebot-audit-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.csv"
    return AuditExport(filename=filename, content=content, count=count, truncated=truncated, sha256=digest)


async def record_export_failure(
    uow: UnitOfWork, *, actor: Actor, export: AuditExport, error: str, now: datetime, request_id: str | None
) -> None:
    """An export that could not be delivered is recorded next to the ``audit.export`` that built it."""
    await audit.record(
        uow,
        actor=actor,
        action=EXPORT_FAILED,
        target=None,
        now=now,
        request_id=request_id,
        details={"sha256": export.sha256, "error": truncate(error, 300)},
    )


async def _csv_chunks(uow: UnitOfWork, where: AuditFilter, wanted: int, *, capped: bool) -> tuple[list[str], int, bool]:
    """CSV text per page, newest page first, each page oldest first: memory stays near the file's size."""
    chunks: list[str] = []
    count = 0
    before: int | None = None
    while count < wanted:
        size = min(EXPORT_PAGE, wanted - count)
        page = await uow.audit.search(where, limit=size, before_id=before)
        if not page:
            break
        signoffs = await uow.audit.signoffs([d for e in page if (d := deployment_id(e.target)) is not None])
        chunks.append(_csv_text(csv_row(entry, signoffs) for entry in reversed(page)))
        count += len(page)
        before = page[-1].id
        if len(page) < size:
            return chunks, count, False
    more = capped and bool(await uow.audit.search(where, limit=1, before_id=before))
    return chunks, count, more


def deployment_id(target: str | None) -> int | None:
    match = _DEPLOYMENT.match(target or "")
    return int(match.group(1)) if match else None


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def csv_row(entry: AuditEntry, signoffs: Mapping[int, DeploymentSignoff]) -> list[str]:
    """One CSV row. Free text only ever appears inside the JSON columns, whose cells start with ``{``
    or ``[``, so no cell can be taken for a spreadsheet formula."""
    signoff = signoffs.get(deployment_id(entry.target) or 0)
    return [
        str(entry.id),
        iso(entry.at),
        entry.actor,
        entry.action,
        entry.target or "",
        entry.source.value,
        entry.request_id or "",
        _json(entry.details),
        entry.hash or "",
        entry.prev_hash or "",
        signoff.requester if signoff else "",
        " ".join(signoff.approvers) if signoff else "",
        _json(signoff.bypasses) if signoff else "",
    ]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _csv_text(rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()

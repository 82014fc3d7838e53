"""The lines of a history import (``releasebot import FILE``): JSON Lines of past deployment attempts.

Each line is one deployment attempt (the spec's "History import format"), parsed and checked here with its
line number in every problem; ``core.dora_import`` runs the import, and the store adds what only the
database can tell (an event already imported with other content, a release recorded with another commit).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.syntax import NAME_RE, SHA_RE, VERSION_RE
from core.text import truncate

STATUSES = ("success", "failed", "rolled_back", "in_progress")
IN_PROGRESS = "in_progress"
KINDS = ("deploy", "retry", "fix", "hotfix", "rollback", "redeploy")
REQUIRED = ("event_id", "service", "team", "environment", "version", "deployed_at", "status")
OPTIONAL = ("commit_sha", "committed_at", "finished_at", "kind", "incident_opened_at", "incident_resolved_at")
KNOWN = frozenset(REQUIRED + OPTIONAL)
MAX_EVENT_ID = 200
MAX_ENVIRONMENT = 40
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One checked line: names trimmed and lower-cased, instants in UTC, ``digest`` its canonical content."""

    line: int
    event_id: str
    service: str
    team: str
    environment: str
    version: str
    commit_sha: str | None
    committed_at: datetime | None
    deployed_at: datetime
    finished_at: datetime | None
    status: str
    kind: str
    incident_opened_at: datetime | None
    incident_resolved_at: datetime | None
    digest: str


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass
class ChunkOutcome:
    """What the store did with one chunk of records."""

    imported: int = 0
    skipped: int = 0  # already imported with identical content
    incidents: int = 0
    releases_created: int = 0
    problems: list[LineProblem] = field(default_factory=list)


@dataclass
class CreatedNames:
    """What an import created (names in creation order)."""

    teams: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    services_without_channel: list[str] = field(default_factory=list)


class _Bad(Exception):
    pass


def show(value: object) -> str:
    """A value from the file quoted back: JSON-quoted (control characters escaped) and shortened."""
    return truncate(json.dumps(value, ensure_ascii=False), 60)


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Bad(f"`{key}` must be a string, not {show(value)}")
    return str(value).strip()


def _name(data: dict[str, Any], key: str, limit: int = 63) -> str:
    value = _text(data, key).lower()
    if not NAME_RE.match(value) or len(value) > limit:
        raise _Bad(
            f"`{key}` {show(data[key])} is not a valid name: use 1 to {limit} lower-case letters, digits, "
            "`.`, `_` or `-`, starting with a letter or digit"
        )
    return value


def _instant(data: dict[str, Any], key: str, *, required: bool) -> datetime | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _Bad(f"`{key}` is {'null' if key in data else 'missing'}: give a time like 2026-11-02T09:30:00Z")
        return None
    if not isinstance(value, str):
        raise _Bad(f"`{key}` must be an ISO 8601 time string, not {show(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Bad(f"`{key}` {show(value)} is not an ISO 8601 time: write it like 2026-11-02T09:30:00Z") from None
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Bad(f"`{key}` {show(value)} has no UTC offset: add Z or an offset such as +01:00")
    return parsed.astimezone(UTC)


def _choice(data: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = data.get(key, default)
    if value not in allowed:
        raise _Bad(f"`{key}` is {show(value)}: use one of {', '.join(allowed)}")
    return str(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value is not None else None


def _record(line: int, data: dict[str, Any], names: dict[tuple[str, str], str]) -> HistoryRecord:
    if not KNOWN.issuperset(data):
        unknown = sorted(set(data) - KNOWN)[0]
        raise _Bad(f"unknown field {show(unknown)}: the fields are {', '.join(REQUIRED + OPTIONAL)}")
    for key in REQUIRED:
        if key not in data:
            raise _Bad(f"`{key}` is missing")
    event_id = _text(data, "event_id")
    if not event_id or len(event_id) > MAX_EVENT_ID or not event_id.isprintable():
        raise _Bad(f"`event_id` {show(data['event_id'])} must be 1 to {MAX_EVENT_ID} printable characters")
    version = _text(data, "version")
    if not VERSION_RE.match(version):
        raise _Bad(f"`version` {show(data['version'])} is not a valid version: use up to 64 letters, digits, . _ + -")
    sha: str | None = None
    if data.get("commit_sha") is not None:
        sha = _text(data, "commit_sha").lower()
        if not SHA_RE.match(sha):
            raise _Bad(f"`commit_sha` {show(data['commit_sha'])} is not a commit: use 7 to 64 hexadecimal digits")
    status = _choice(data, "status", STATUSES)
    kind = _choice(data, "kind", KINDS, default="deploy")
    deployed_at = _instant(data, "deployed_at", required=True)
    assert deployed_at is not None
    finished_at = _instant(data, "finished_at", required=False)
    committed_at = _instant(data, "committed_at", required=False)
    opened = _instant(data, "incident_opened_at", required=False)
    resolved = _instant(data, "incident_resolved_at", required=False)
    if status == IN_PROGRESS and finished_at is not None:
        raise _Bad("`finished_at` is set but `status` is in_progress: give the final status, or make finished_at null")
    if status != IN_PROGRESS and finished_at is None:
        raise _Bad(f"`finished_at` is missing but `status` is {status}: only an in_progress deployment has no finish")
    if finished_at is not None and finished_at < deployed_at:
        raise _Bad(f"`finished_at` ({_iso(finished_at)}) is before `deployed_at` ({_iso(deployed_at)})")
    if resolved is not None and opened is None:
        raise _Bad("`incident_resolved_at` is set without `incident_opened_at`")
    if opened is not None and status == IN_PROGRESS:
        raise _Bad("an incident is attributed to a deployment still in progress: attribute it once it has finished")
    service = _cached_name(data, "service", names)
    team = _cached_name(data, "team", names)
    environment = _cached_name(data, "environment", names, MAX_ENVIRONMENT)
    # The separator cannot occur in any field (an event id is printable; names, versions and commits are
    # restricted), so the text is unambiguous; instants count as microseconds since the epoch.
    canonical = (
        f"{event_id}\x1f{service}\x1f{team}\x1f{environment}\x1f{version}\x1f{sha or ''}\x1f{_micros(committed_at)}"
        f"\x1f{_micros(deployed_at)}\x1f{_micros(finished_at)}\x1f{status}\x1f{kind}\x1f{_micros(opened)}"
        f"\x1f{_micros(resolved)}"
    )
    return HistoryRecord(
        line,
        event_id,
        service,
        team,
        environment,
        version,
        sha,
        committed_at,
        deployed_at,
        finished_at,
        status,
        kind,
        opened,
        resolved,
        hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _micros(value: datetime | None) -> int | str:
    return "" if value is None else (value - _EPOCH) // _MICROSECOND


def _cached_name(data: dict[str, Any], key: str, names: dict[tuple[str, str], str], limit: int = 63) -> str:
    """Names repeat on most lines: each distinct one is checked once."""
    raw = data[key]
    if type(raw) is str:
        found = names.get((key, raw))
        if found is None:
            found = names[(key, raw)] = _name(data, key, limit)
        return found
    return _name(data, key, limit)


class HistoryChecker:
    """Checks lines one by one, remembering what a file may contain only once."""

    def __init__(self) -> None:
        self._event_lines: dict[str, int] = {}
        self._in_progress: dict[tuple[str, str], int] = {}
        self._names: dict[tuple[str, str], str] = {}

    def check(self, line: int, text: str | bytes) -> HistoryRecord | None:
        """The record on this line (None for a blank line); raises ``LineProblemError`` naming the line."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise LineProblemError(LineProblem(line, f"not UTF-8 text (byte {error.start + 1})")) from None
        if line == 1:
            text = text.removeprefix("\ufeff")  # a byte order mark some editors write
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise LineProblemError(LineProblem(line, f"not valid JSON ({_json_error(error)})")) from None
        if not isinstance(data, dict):
            raise LineProblemError(LineProblem(line, f"expected a JSON object, found {show(data)}"))
        try:
            record = _record(line, data, self._names)
        except _Bad as bad:
            raise LineProblemError(LineProblem(line, str(bad))) from None
        first = self._event_lines.setdefault(record.event_id, line)
        if first != line:
            raise LineProblemError(LineProblem(line, f"`event_id` {show(record.event_id)} is also on line {first}"))
        if record.status == IN_PROGRESS:
            key = (record.service, record.environment)
            other = self._in_progress.setdefault(key, line)
            if other != line:
                raise LineProblemError(
                    LineProblem(
                        line,
                        f"{record.service} is already in progress to {record.environment} on line {other}: "
                        "a service has at most one deployment in progress per environment",
                    )
                )
        return record


class LineProblemError(Exception):
    def __init__(self, problem: LineProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _json_error(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at column {error.colno}"
    return "nested too deeply"

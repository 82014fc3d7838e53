"""audit, audit export."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from core.audit_log import EXPORT_MAX, LIST_MAX, Since, parse_since
from core.model import AuditFilter
from core.permissions import Permission
from core.syntax import Args, Command, Verb, name, shown, user

ACTION_RE = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class AuditQuery(Command):
    service: str | None = None
    user: str | None = None
    action: str | None = None
    since: Since | None = None
    limit: int | None = None

    def where(self, now: datetime) -> AuditFilter:
        since = self.since.start(now) if self.since else None
        return AuditFilter(service=self.service, actor=self.user, action=self.action, since=since)


@dataclass(frozen=True)
class AuditList(AuditQuery):
    pass


@dataclass(frozen=True)
class AuditExport(AuditQuery):
    pass


FILTERS = "[service <service>] [user <@user>] [action <action>] [since <YYYY-MM-DD|7d>] [limit <n>]"
AUDIT = f"/release audit [export] {FILTERS}"


def _limit(token: str, most: int, args: Args, *, exporting: bool) -> int:
    if not token.isdigit() or not 1 <= int(token) <= most:
        more = "" if exporting else "; `/release audit export` sends more as a CSV file"
        raise args.fail(f"{shown(token)} is not a limit: give a whole number from 1 to {most}{more}.")
    return int(token)


def _action(token: str, args: Args) -> str:
    value = token.strip().lower()
    if not ACTION_RE.match(value):
        raise args.fail(f"{shown(token)} is not an action: give its start, like `deployment` or `deployment.approve`.")
    return value


def _since(token: str, args: Args) -> Since:
    found = args.converted(parse_since, token)
    assert isinstance(found, Since)
    return found


def parse_audit(tokens: list[str]) -> Command:
    args = Args(tokens, AUDIT)
    exporting = args.peek() is not None and str(args.peek()).lower() == "export"
    if exporting:
        args.pos += 1
    options = args.keyword_options({"service", "user", "action", "since", "limit"})
    most = EXPORT_MAX if exporting else LIST_MAX
    return (AuditExport if exporting else AuditList)(
        service=name(options["service"], "service", args) if "service" in options else None,
        user=user(options["user"], args) if "user" in options else None,
        action=_action(options["action"], args) if "action" in options else None,
        since=_since(options["since"], args) if "since" in options else None,
        limit=_limit(options["limit"], most, args, exporting=exporting) if "limit" in options else None,
    )


VERBS = [
    Verb(
        "audit",
        AUDIT,
        "read the audit log, newest first; `export` sends it to you as CSV",
        Permission.READ_AUDIT,
        parse_audit,
        examples=["/release audit service payments-api since 7d", "/release audit export since 2026-11-01"],
    ),
]

"""``releasebot audit verify|export``: check the hash chain; write entries as CSV to standard output."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from core.audit_log import export_entries, parse_since
from core.errors import ReleasebotError
from core.model import Actor, AuditFilter, Role, Source
from core.text import parse_user
from storage.audit import verify_chain
from storage.engine import create_engine, session_factory
from storage.uow import unit_of_work_factory

EXIT_BROKEN = 1
EXIT_FAILED = 2


class DatabaseSettings(Protocol):
    """The part of ``bot.settings.Settings`` these commands read."""

    @property
    def database_url_resolved(self) -> str: ...


async def run_audit(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    engine = create_engine(settings.database_url_resolved, pool_size=2)
    try:
        if args.audit_command == "verify":
            return await _verify(engine)
        return await _export(engine, args)
    except (SQLAlchemyError, OSError) as error:
        _err(f"cannot read the audit log: {type(error).__name__}: {(str(error).splitlines() or [''])[0]}")
        return EXIT_FAILED
    finally:
        await engine.dispose()


async def _verify(engine: Any) -> int:
    async with session_factory(engine)() as session:
        check = await verify_chain(session)
    if check.broken_id is not None:
        print(f"audit log BROKEN at entry A-{check.broken_id}: {check.problem}")
        return EXIT_BROKEN
    print(f"audit log intact: {check.checked} entries")
    return 0


async def _export(engine: Any, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        where = AuditFilter(
            service=args.service,
            actor=parse_user(args.user) if args.user else None,
            action=args.action.lower() if args.action else None,
            since=parse_since(args.since).start(now) if args.since else None,
        )
        actor = Actor(user_id="cli", role=Role.ADMIN, name="cli", source=Source.CLI)
        async with unit_of_work_factory(session_factory(engine), lambda: now)() as uow:
            export = await export_entries(
                uow, actor=actor, where=where, limit=args.limit, now=now, request_id=f"cli-{uuid.uuid4().hex[:12]}"
            )
            await uow.commit()
    except ReleasebotError as error:
        _err(error.render())
        return EXIT_BROKEN
    sys.stdout.write(export.content.decode())
    sys.stdout.flush()
    more = " (more match: the newest were kept)" if export.truncated else ""
    _err(f"exported {export.count} entries{more}; SHA-256 {export.sha256}")
    return 0


def _err(message: str) -> None:
    print(f"releasebot: {message}", file=sys.stderr)

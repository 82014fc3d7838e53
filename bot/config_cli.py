"""``releasebot config apply FILE``: declare teams, environments (and their freezes), services and users."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from bot.config_file import ConfigFileError, load_config
from core.config_apply import ApplyReport, ConfigInvalid, apply_configuration
from core.errors import ReleasebotError
from core.model import Actor, Role, Source
from storage.engine import create_engine, session_factory
from storage.schema import schema_status, upgrade
from storage.uow import unit_of_work_factory

EXIT_INVALID = 2
EXIT_FAILED = 1


class DatabaseSettings(Protocol):
    """The part of ``bot.settings.Settings`` this command reads."""

    @property
    def database_url_resolved(self) -> str: ...

    @property
    def db_pool_size(self) -> int: ...


async def apply_config_file(settings: DatabaseSettings, path: Path, *, actor_id: str = "cli") -> int:
    """Apply ``path`` in one transaction; print a summary and return 0, or print the problems and fail.

    An invalid file is reported line by line and returns 2 without opening the database. SQLite is
    migrated first; a PostgreSQL schema that is not current is refused (``releasebot db upgrade``).
    """
    try:
        declaration = load_config(path)
    except ConfigFileError as error:
        return _invalid(path, error.problems)
    engine = create_engine(settings.database_url_resolved, pool_size=settings.db_pool_size)
    try:
        if settings.database_url_resolved.startswith("sqlite"):
            await upgrade(engine)
        elif not (status := await schema_status(engine)).is_current:
            _err(
                f"the database schema is at {status.current or 'no revision'}, not {status.head}: "
                "run `releasebot db upgrade` first"
            )
            return EXIT_FAILED
        actor = Actor(user_id=actor_id, role=Role.ADMIN, name=actor_id, source=Source.CLI)
        uow = unit_of_work_factory(session_factory(engine), lambda: datetime.now(UTC))()
        async with uow:
            report = await apply_configuration(
                uow,
                actor=actor,
                declaration=declaration,
                now=datetime.now(UTC),
                request_id=f"config-apply-{uuid.uuid4().hex[:12]}",
            )
            await uow.commit()
    except ConfigInvalid as error:
        return _invalid(path, error.problems)
    except ReleasebotError as error:
        _err(error.render())
        return EXIT_FAILED
    except (SQLAlchemyError, OSError) as error:
        _err(
            f"cannot apply {path}: the database failed ({type(error).__name__}: {(str(error).splitlines() or [''])[0]})"
        )
        return EXIT_FAILED
    finally:
        await engine.dispose()
    print(f"Applied {path}: {report.summary()}")
    for line in _changes(report):
        print(line)
    return 0


def _changes(report: ApplyReport) -> list[str]:
    """One line per object created (+), updated (~) or cancelled (-), so the operator sees exactly what moved."""
    return [
        f"  {mark} {kind} {name}"
        for mark, by_kind in (("+", report.created), ("~", report.updated), ("-", report.cancelled))
        for kind, names in by_kind.items()
        for name in names
    ]


def _invalid(path: Path, problems: list[str]) -> int:
    _err(f"{path} is invalid:")
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_INVALID


def _err(message: str) -> None:
    print(f"releasebot: {message}", file=sys.stderr)

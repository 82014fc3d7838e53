"""Bring a database to the schema of this release with Alembic, and report where it stands."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine, normalise_url

MIGRATIONS_PACKAGE = "migrations"

_AlembicCommand = Callable[[Config], None]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str
    is_current: bool


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration shipped in the ``migrations`` package, whatever the cwd.

    With ``url``, ``alembic.command`` functions run on their own engine (outside any running event
    loop); without it, pass a connection in ``config.attributes["connection"]`` as ``upgrade`` does.
    """
    config = Config(str(_migrations_dir() / "alembic.ini"))
    # The application keeps its own logging; env.py must not reconfigure it.
    config.attributes["configure_logging"] = False
    if url is not None:
        # The ini file is interpolated: a literal % (URL-encoded passwords) must be doubled.
        config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


async def upgrade(engine_or_url: AsyncEngine | str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` (to ``head`` unless told otherwise) in one transaction."""
    await _run(engine_or_url, lambda config: command.upgrade(config, revision))


async def downgrade(engine_or_url: AsyncEngine | str, revision: str) -> None:
    """Run ``alembic downgrade`` to ``revision`` (``base`` removes every table)."""
    await _run(engine_or_url, lambda config: command.downgrade(config, revision))


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    head = _head_revision()
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_revision)
    return SchemaStatus(current=current, head=head, is_current=current == head)


def _migrations_dir() -> Path:
    # The package's own directory, wherever it is installed. Its __path__ rather than
    # importlib.resources.files(): some editable installs map the package as a namespace whose
    # search path also holds a placeholder entry, and files() refuses those.
    package = importlib.import_module(MIGRATIONS_PACKAGE)
    for entry in package.__path__:
        directory = Path(entry)
        if (directory / "alembic.ini").is_file():
            return directory
    raise RuntimeError(f"alembic.ini not found in the {MIGRATIONS_PACKAGE!r} package")


def _head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the migrations package holds no revision")
    return head


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def _run(engine_or_url: AsyncEngine | str, alembic_command: _AlembicCommand) -> None:
    if isinstance(engine_or_url, str):
        engine = create_engine(engine_or_url, pool_size=1)
        try:
            await _run_on_engine(engine, alembic_command)
        finally:
            await engine.dispose()
    else:
        await _run_on_engine(engine_or_url, alembic_command)


async def _run_on_engine(engine: AsyncEngine, alembic_command: _AlembicCommand) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        alembic_command(config)

    async with engine.begin() as connection:
        await connection.run_sync(run)

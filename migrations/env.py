"""Alembic environment: async engines, batch mode on SQLite, types compared on autogenerate.

A caller that already holds a connection (``storage.schema``) passes it in
``config.attributes["connection"]``; otherwise the URL comes from ``-x url=...`` or the
``sqlalchemy.url`` option and an engine is built with ``storage.engine.create_engine``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from storage.engine import create_engine, normalise_url
from storage.rows import Base, UTCDateTime
from storage.runbooks import is_search_object

config = context.config
target_metadata = Base.metadata

# Configure logging only when run from the alembic command line: inside the application the
# logging set up by the application must stay as it is.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return normalise_url(url)


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Revisions spell out plain SQLAlchemy types so they never depend on application code that may
    # change later; UTCDateTime is stored as a timezone-aware DateTime.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # The full-text search objects of runbooks are made by hand in the revision (storage.rows cannot declare
    # them): autogenerate must not propose dropping them.
    return not is_search_object(name)


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        include_name=_include_name,
        **options,
    )


def run_migrations_offline() -> None:
    url = _database_url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    # storage.engine makes SQLite emit a real BEGIN, so DDL there is transactional as well: a failed
    # migration leaves the schema as it was instead of half changed.
    _configure(connection=connection, render_as_batch=sqlite, transactional_ddl=True if sqlite else None)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_engine(_database_url(), pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    elif isinstance(connection, Connection):
        do_run_migrations(connection)
    else:
        raise TypeError(
            "config.attributes['connection'] must be a synchronous Connection "
            "(use AsyncConnection.run_sync, as storage.schema does)"
        )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Bulk inserts for the history import: PostgreSQL's COPY (through asyncpg), executemany elsewhere.

Both run in the session's own transaction. COPY skips SQLAlchemy's column defaults and type processing,
so the rows are completed here from the table's scalar defaults and JSON values are serialised, exactly
as an ordinary INSERT would store them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession


async def bulk_insert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` as fast as the database allows."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(table), list(rows))
        return
    columns, defaults, convert = _copy_plan(table, rows[0].keys())
    records = [
        tuple(convert[i](row[name] if name in row else defaults[name]()) for i, name in enumerate(columns))
        for row in rows
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=records, columns=columns
    )


def _same(value: Any) -> Any:
    return value


def _json(value: Any) -> Any:
    return None if value is None else json.dumps(value)


def _copy_plan(table: Table, given: Any) -> tuple[list[str], dict[str, Any], list[Any]]:
    """The columns to copy (those given, and those with a Python-side default), each default as a factory,
    and each column's value converter."""
    columns: list[str] = []
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default: Any = column.default
        if column.name in given:
            columns.append(column.name)
        elif default is not None and default.is_scalar:
            columns.append(column.name)
            defaults[column.name] = lambda value=default.arg: value
        elif default is not None and default.is_callable:
            columns.append(column.name)
            defaults[column.name] = lambda make=default.arg: make(None)
    convert = [_json if isinstance(table.c[name].type, JSON) else _same for name in columns]
    return columns, defaults, convert


async def allocate_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys for ``table``, so that related rows can be written without reading back.

    PostgreSQL draws them from the column's sequence (safe beside concurrent writers); SQLite continues
    after the largest one, which is safe because a SQLite write transaction holds the database's lock.
    """
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        drawn = await session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": table.name, "count": count},
        )
        return [int(id_) for (id_,) in drawn]
    largest = await session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
    return list(range(int(largest or 0) + 1, int(largest or 0) + 1 + count))

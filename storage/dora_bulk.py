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


async def bulk_insert(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples of the values of ``columns``) into ``table`` as fast as the database allows.

    Columns left out take their defaults; for COPY, a Python-side default is evaluated once per call (the
    tables written here have constant ones) and JSON values are serialised."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    extra, defaults = _defaults(table, columns)
    json_columns = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    if json_columns:
        rows = [_with_json(row, json_columns) for row in rows]
    records = [row + defaults for row in rows] if defaults else rows
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=records, columns=[*columns, *extra]
    )


def _with_json(row: tuple[Any, ...], positions: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in positions:
        values[i] = None if values[i] is None else json.dumps(values[i])
    return tuple(values)


def _defaults(table: Table, given: Sequence[str]) -> tuple[list[str], tuple[Any, ...]]:
    """The columns left out that have a Python-side default, and those defaults as COPY writes them."""
    names: list[str] = []
    values: list[Any] = []
    for column in table.columns:
        default: Any = column.default
        if column.name in given or default is None or not (default.is_scalar or default.is_callable):
            continue
        value = default.arg if default.is_scalar else default.arg(None)
        names.append(column.name)
        values.append(json.dumps(value) if isinstance(column.type, JSON) else value)
    return names, tuple(values)


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

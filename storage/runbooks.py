"""Runbooks and their full-text search, on each database's own engine.

PostgreSQL: a GIN index on a weighted ``tsvector`` expression (title and tags weigh A, content B) ranked with
``ts_rank`` and excerpted with ``ts_headline``. SQLite: the FTS5 table ``runbooks_fts`` (external content:
it indexes the ``runbooks`` rows, kept in sync by triggers) ranked with ``bm25`` and excerpted with
``snippet``. Both are created by the migration, outside ``storage.rows`` (``is_search_object`` names them).

Search words arrive as plain words (``core.runbooks.search_terms``) and are still never spliced into SQL:
PostgreSQL receives each as a bound value of ``plainto_tsquery``; FTS5 receives a bound query string in
which each word is a double-quoted string (a quote inside is doubled), which FTS5 reads as text only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.errors import NotFound
from core.model import Runbook, RunbookHit
from core.runbooks import MARK_END, MARK_START
from storage.rows import EnvironmentRow, RunbookRow, ServiceRow

FTS_TABLE = "runbooks_fts"  # SQLite; FTS5 adds its shadow tables runbooks_fts_data, _idx, _docsize, _config
SEARCH_INDEX = "ix_runbooks_search"  # PostgreSQL

# The indexed expression; queries must spell it exactly like the migration's index for the index to serve.
PG_DOCUMENT = (
    "(setweight(to_tsvector('english'::regconfig, coalesce(r.title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(r.tags::text, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(r.content, '')), 'B'))"
)
PG_HEADLINE = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, "
    'FragmentDelimiter=" … "'
)
# bm25 weights of the FTS5 columns (title, content, tags): matching the PostgreSQL weights in spirit.
SQLITE_RANK = f"bm25({FTS_TABLE}, 10.0, 1.0, 5.0)"
SQLITE_SNIPPET = f"snippet({FTS_TABLE}, 1, :mark_start, :mark_end, '…', 24)"

_Environments = aliased(EnvironmentRow)


def is_search_object(name: str | None) -> bool:
    """The full-text search objects the migration creates beside ``storage.rows`` (FTS5 tables, the GIN index):
    schema comparisons with the models leave them out."""
    return name is not None and (name == SEARCH_INDEX or name == FTS_TABLE or name.startswith(f"{FTS_TABLE}_"))


def fts5_query(terms: Sequence[str], *, any_term: bool = False) -> str:
    """An FTS5 query in which every term is a string, never syntax: all terms must match, or any with ``any_term``."""
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    return (" OR " if any_term else " ").join(quoted)


def _runbook(row: RunbookRow, service: str | None, environment: str | None) -> Runbook:
    return Runbook(
        title=row.title,
        content=row.content,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        service=service,
        environment=environment,
        tags=[str(tag) for tag in row.tags or []],
        id=row.id,
    )


class RunbookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _query(self) -> Select[RunbookRow, str | None, str | None]:
        return (
            select(RunbookRow, ServiceRow.name, _Environments.name)
            .outerjoin(ServiceRow, RunbookRow.service_id == ServiceRow.id)
            .outerjoin(_Environments, RunbookRow.environment_id == _Environments.id)
        )

    async def _by_ids(self, ids: Sequence[int]) -> dict[int, Runbook]:
        if not ids:
            return {}
        found = (await self.session.execute(self._query().where(RunbookRow.id.in_(ids)))).all()
        return {row.id: _runbook(row, service, environment) for row, service, environment in found}

    async def _scope_ids(self, runbook: Runbook) -> dict[str, int | None]:
        ids: dict[str, int | None] = {"service_id": None, "environment_id": None}
        if runbook.service is not None:
            ids["service_id"] = await self._id(ServiceRow, runbook.service, "service")
        if runbook.environment is not None:
            ids["environment_id"] = await self._id(EnvironmentRow, runbook.environment, "environment")
        return ids

    async def _id(self, row: type[ServiceRow] | type[EnvironmentRow], name: str, what: str) -> int:
        found = (await self.session.execute(select(row.id).where(row.name == name))).scalar_one_or_none()
        if found is None:
            raise NotFound(f"There is no {what} `{name}`.")
        return int(found)

    async def get(self, runbook_id: int) -> Runbook | None:
        return (await self._by_ids([runbook_id])).get(runbook_id)

    async def add(self, runbook: Runbook) -> Runbook:
        row = RunbookRow(
            title=runbook.title,
            content=runbook.content,
            tags=list(runbook.tags),
            created_by=runbook.created_by,
            created_at=runbook.created_at,
            updated_at=runbook.updated_at,
            **await self._scope_ids(runbook),
        )
        self.session.add(row)
        await self.session.flush()
        runbook.id = row.id
        return runbook

    async def update(self, runbook: Runbook) -> bool:
        assert runbook.id is not None
        statement = (
            update(RunbookRow)
            .where(RunbookRow.id == runbook.id)
            .values(
                title=runbook.title,
                content=runbook.content,
                tags=list(runbook.tags),
                updated_at=runbook.updated_at,
                **await self._scope_ids(runbook),
            )
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def list(self, *, service: str | None = None, limit: int) -> Sequence[Runbook]:
        query = self._query().order_by(RunbookRow.updated_at.desc(), RunbookRow.id.desc()).limit(limit)
        if service is not None:
            query = query.where(ServiceRow.name == service)
        return [_runbook(*found) for found in (await self.session.execute(query)).all()]

    async def search(self, terms: Sequence[str], *, limit: int) -> Sequence[RunbookHit]:
        if not terms or limit <= 0:
            return []
        if self._postgres:
            statement = text(
                f"SELECT r.id, ts_rank({PG_DOCUMENT}, q) AS score, ts_headline('english', r.content, q, :options) "
                f"AS snippet FROM runbooks AS r, plainto_tsquery('english', :query) AS q WHERE {PG_DOCUMENT} @@ q "
                "ORDER BY score DESC, r.id DESC LIMIT :limit"
            )
            params: dict[str, Any] = {"query": " ".join(terms), "options": PG_HEADLINE, "limit": limit}
        else:
            statement = text(
                f"SELECT rowid AS id, -{SQLITE_RANK} AS score, {SQLITE_SNIPPET} AS snippet FROM {FTS_TABLE} "
                f"WHERE {FTS_TABLE} MATCH :query ORDER BY score DESC, rowid DESC LIMIT :limit"
            )
            params = {"query": fts5_query(terms), "mark_start": MARK_START, "mark_end": MARK_END, "limit": limit}
        found = (await self.session.execute(statement, params)).all()
        runbooks = await self._by_ids([int(item.id) for item in found])
        return [
            RunbookHit(runbooks[int(item.id)], float(item.score), str(item.snippet or ""))
            for item in found
            if int(item.id) in runbooks
        ]

    async def for_service(
        self, service: str, environment: str | None, terms: Sequence[str], *, limit: int
    ) -> Sequence[Runbook]:
        params: dict[str, Any] = {"service": service, "environment": environment, "limit": limit}
        scope = "s.name = :service"
        if environment is not None:
            scope += " AND (r.environment_id IS NULL OR e.name = :environment)"
        joins = (
            "FROM runbooks AS r JOIN services AS s ON s.id = r.service_id "
            "LEFT JOIN environments AS e ON e.id = r.environment_id"
        )
        tier = "CASE WHEN r.environment_id IS NULL THEN 1 ELSE 0 END"
        if not terms:
            score, match = "", ""
        elif self._postgres:
            names = [f"t{n}" for n in range(len(terms))]
            params.update(zip(names, terms, strict=True))
            query = " || ".join(f"plainto_tsquery('english', :{name})" for name in names)
            score, match = f"ts_rank({PG_DOCUMENT}, ({query})) DESC, ", ""
        else:
            params["query"] = fts5_query(terms, any_term=True)
            score = "coalesce(m.score, 0), "  # bm25: lower is better, and a runbook that matches nothing has 0
            match = (
                f"LEFT JOIN (SELECT rowid AS id, {SQLITE_RANK} AS score FROM {FTS_TABLE} "
                f"WHERE {FTS_TABLE} MATCH :query) AS m ON m.id = r.id "
            )
        statement = text(
            f"SELECT r.id {joins} {match}WHERE {scope} "
            f"ORDER BY {tier}, {score}r.updated_at DESC, r.id DESC LIMIT :limit"
        )
        ids = [int(found) for found in (await self.session.execute(statement, params)).scalars()]
        runbooks = await self._by_ids(ids)
        return [runbooks[runbook_id] for runbook_id in ids if runbook_id in runbooks]

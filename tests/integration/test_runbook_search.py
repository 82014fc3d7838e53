"""Runbooks against the real store, on SQLite (FTS5) and PostgreSQL (tsvector): ranking, snippets, edits kept
in the index, safe search text, the runbooks linked for trouble, validation, permissions and the audit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text

from core import configuration, runbooks
from core.errors import NotFound, PermissionDenied
from core.model import Actor, Role, Runbook
from core.runbooks import MARK_END, MARK_START, RunbookDraft, RunbookProblems
from storage.rows import AuditRow, RunbookRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import ADMIN, DEV, VIEWER, FrozenClock

Uow = Callable[[], SqlUnitOfWork]
ANALYST = Actor(user_id="U0ANALYST1", role=Role.ANALYST)


def marked(snippet: str) -> str:
    return snippet.replace(MARK_START, "[").replace(MARK_END, "]")


async def add(
    uow: Uow,
    clock: FrozenClock,
    title: str,
    content: str,
    *,
    service: str | None = None,
    environment: str | None = None,
    tags: str = "",
    actor: Actor = DEV,
) -> Runbook:
    clock.advance(minutes=1)
    async with uow() as work:
        saved = await runbooks.save_runbook(
            work,
            actor=actor,
            runbook_id=None,
            draft=RunbookDraft(title, content, service, environment, tags),
            now=clock(),
            request_id="test",
        )
        await work.commit()
    return saved.runbook


async def search(uow: Uow, query: str, limit: int = 10) -> list[tuple[str, str]]:
    async with uow() as work:
        hits = await runbooks.search_runbooks(work, actor=VIEWER, query=query, limit=limit)
    return [(hit.runbook.reference, marked(hit.snippet)) for hit in hits]


async def best(uow: Uow, environment: str | None, words: str, limit: int = 3) -> list[str]:
    async with uow() as work:
        found = await runbooks.best_runbooks(work, "payments-api", environment, words, limit)
    return [runbook.reference for runbook in found]


@pytest.fixture
async def library(workspace: Uow, clock: FrozenClock) -> Uow:
    """Four runbooks; "database" is in RB-1's title and tags, and in RB-2's and RB-3's content only."""
    common = {"actor": ADMIN, "now": clock(), "request_id": "setup"}
    async with workspace() as work:
        await configuration.add_service(
            work, name="search-api", team="payments", channel="C0SEARCH01", repo=None, **common
        )
        await work.commit()
    await add(
        workspace,
        clock,
        "Database failover",
        "Promote the replica, then point the pool at it.",
        service="payments-api",
        environment="production",
        tags="database, postgres",
    )
    await add(
        workspace,
        clock,
        "Smoke tests failing",
        "When smoke fails after a deploy, look at the database migrations first, then at the cache.",
        service="payments-api",
        tags="smoke",
    )
    await add(
        workspace,
        clock,
        "Reindex search",
        "Rebuild the index; the database is read only meanwhile.",
        service="search-api",
    )
    await add(workspace, clock, "Cache flush", "Flush redis when stale prices show.", service="payments-api")
    return workspace


async def test_a_title_and_tag_match_ranks_above_content_matches_and_snippets_mark_the_words(library: Uow) -> None:
    found = await search(library, "database")

    assert found[0][0] == "RB-1"
    assert sorted(reference for reference, _ in found) == ["RB-1", "RB-2", "RB-3"]
    snippets = dict(found)
    assert "look at the [database] migrations first" in snippets["RB-2"]
    assert "the [database] is read only" in snippets["RB-3"]


async def test_every_word_must_match_and_words_are_stemmed(library: Uow) -> None:
    assert [reference for reference, _ in await search(library, "failing smoke")] == ["RB-2"]
    assert [reference for reference, _ in await search(library, "databases migration")] == ["RB-2"]
    assert await search(library, "database nowhere") == []


async def test_the_best_match_comes_first_whichever_column_it_is_in(library: Uow, clock: FrozenClock) -> None:
    await add(library, clock, "Prices look wrong", "Stale prices: flush the cache, then the cache of the CDN.")

    found = [reference for reference, _ in await search(library, "cache")]

    assert found[0] == "RB-4"  # "Cache flush": the word is its title
    assert set(found) == {"RB-2", "RB-4", "RB-5"}


async def test_search_text_is_never_read_as_query_syntax(library: Uow) -> None:
    for query in ('"database', "database OR smoke", "title:database", "NEAR(database smoke)", "data*", "-redis"):
        await search(library, query)  # parsed as plain words: no error on either database

    assert [reference for reference, _ in await search(library, "smoke AND (failing)")] == ["RB-2"]
    async with library() as work:
        hostile = ['database"', "*", "OR", "NOT", "title:x", "'); DROP TABLE runbooks; --"]
        assert await work.runbooks.search(hostile, limit=5) == []
        assert len(await work.runbooks.for_service("payments-api", None, hostile, limit=5)) == 3
        assert (await work.session.execute(select(func.count(RunbookRow.id)))).scalar_one() == 4


async def test_an_edit_is_searchable_at_once_and_the_old_words_are_gone(library: Uow, clock: FrozenClock) -> None:
    clock.advance(minutes=5)
    async with library() as work:
        saved = await runbooks.save_runbook(
            work,
            actor=DEV,
            runbook_id=4,
            draft=RunbookDraft("Memcached flush", "Restart memcached when stale prices show.", "payments-api"),
            now=clock(),
            request_id="edit",
        )
        await work.commit()

    assert saved.changed == ["title", "content"]
    assert await search(library, "redis") == []
    assert [reference for reference, _ in await search(library, "memcached")] == ["RB-4"]
    async with library() as work:
        edited = await work.runbooks.get(4)
    assert edited is not None and edited.updated_at == clock() and edited.created_at < clock()


async def test_linked_runbooks_put_the_environment_first_then_the_service_ranked_by_the_words(library: Uow) -> None:
    assert await best(library, "production", "smoke: exit code 3") == ["RB-1", "RB-2", "RB-4"]
    assert await best(library, "production", "redis") == ["RB-1", "RB-4", "RB-2"]
    assert await best(library, "staging", "smoke") == ["RB-2", "RB-4"]  # RB-1 is for production only
    assert await best(library, "production", "", limit=1) == ["RB-1"]
    assert await best(library, "production", "anything", limit=0) == []
    async with library() as work:
        assert await runbooks.best_runbooks(work, "search-api", "production", "database", 3) != []
        assert await runbooks.best_runbooks(work, "no-such-service", "production", "database", 3) == []


async def test_every_bad_field_is_named_and_nothing_is_stored(workspace: Uow, clock: FrozenClock) -> None:
    draft = RunbookDraft("  ", "x" * (runbooks.CONTENT_MAX + 1), "nope", "moon", "ok, not a tag!")
    async with workspace() as work:
        with pytest.raises(RunbookProblems) as raised:
            await runbooks.save_runbook(work, actor=DEV, runbook_id=None, draft=draft, now=clock(), request_id="x")

    assert raised.value.problems == {
        "title": "Give the runbook a title.",
        "content": f"The content is {runbooks.CONTENT_MAX + 1} characters long; the limit is {runbooks.CONTENT_MAX}.",
        "service": 'There is no service "nope". Known: payments-api.',
        "environment": 'There is no environment "moon". Known: production, staging.',
        "tags": '"not a tag!" is not a tag: use lower-case letters, digits, ".", "_" or "-" (up to 30), and commas '
        "between tags.",
    }
    async with workspace() as work:
        assert (await work.session.execute(select(func.count(RunbookRow.id)))).scalar_one() == 0


async def test_a_long_title_and_empty_steps_are_refused(workspace: Uow, clock: FrozenClock) -> None:
    draft = RunbookDraft("t" * 201, "   ")
    async with workspace() as work:
        with pytest.raises(RunbookProblems) as raised:
            await runbooks.save_runbook(work, actor=DEV, runbook_id=None, draft=draft, now=clock(), request_id="x")
    assert raised.value.problems == {
        "title": "The title is 201 characters long; the limit is 200.",
        "content": "Write the steps: the content can't be empty.",
    }


async def test_only_developers_and_admins_write_runbooks_and_every_change_is_audited(
    workspace: Uow, clock: FrozenClock
) -> None:
    for refused in (VIEWER, ANALYST):
        async with workspace() as work:
            with pytest.raises(PermissionDenied, match="You can't write runbooks"):
                await runbooks.runbook_form(work, actor=refused, runbook_id=None)
            with pytest.raises(PermissionDenied) as raised:
                await runbooks.save_runbook(
                    work, actor=refused, runbook_id=None, draft=RunbookDraft("t", "c"), now=clock(), request_id="x"
                )
            assert raised.value.hint is not None and raised.value.hint.startswith("Only admins, developers may")
    created = await add(workspace, clock, "Rotate keys", "Rotate them.", tags="Security, security")
    clock.advance(minutes=1)
    async with workspace() as work:
        unchanged = await runbooks.save_runbook(
            work,
            actor=ADMIN,
            runbook_id=1,
            draft=RunbookDraft("Rotate keys", "Rotate them.", tags="security"),
            now=clock(),
            request_id="same",
        )
        edited = await runbooks.save_runbook(
            work,
            actor=ADMIN,
            runbook_id=1,
            draft=RunbookDraft("Rotate keys", "Rotate them.", "payments-api", "staging", "security"),
            now=clock(),
            request_id="edit",
        )
        await work.commit()
        entries = (await work.session.execute(select(AuditRow).order_by(AuditRow.id))).scalars().all()
        work.session.expunge_all()  # keep them readable after the session ends
        form = await runbooks.runbook_form(work, actor=ADMIN, runbook_id=1)

    assert created.tags == ["security"]
    assert unchanged.changed == [] and edited.changed == ["service", "environment"]
    assert [(e.action, e.actor, e.target) for e in entries if e.action.startswith("runbook.")] == [
        ("runbook.create", DEV.user_id, "RB-1"),
        ("runbook.update", ADMIN.user_id, "RB-1"),
    ]
    assert entries[-1].details == {
        "title": "Rotate keys",
        "service": "payments-api",
        "environment": "staging",
        "tags": ["security"],
        "changed": ["service", "environment"],
    }
    assert form.runbook is not None and form.runbook.environment == "staging"
    assert form.services == ["payments-api"] and form.environments == ["staging", "production"]


async def test_an_unknown_runbook_is_named(workspace: Uow, clock: FrozenClock) -> None:
    async with workspace() as work:
        with pytest.raises(NotFound, match="There is no runbook RB-9"):
            await runbooks.runbook_form(work, actor=DEV, runbook_id=9)
        with pytest.raises(NotFound, match="There is no runbook RB-9"):
            await runbooks.get_runbook(work, actor=VIEWER, runbook_id=9)


async def test_the_listing_is_newest_change_first_and_filters_by_service(library: Uow, clock: FrozenClock) -> None:
    async with library() as work:
        every = await runbooks.list_runbooks(work, actor=VIEWER, service=None, limit=10)
        search_api = await runbooks.list_runbooks(work, actor=VIEWER, service="search-api", limit=10)
        with pytest.raises(NotFound):
            await runbooks.list_runbooks(work, actor=VIEWER, service="nope", limit=10)
    assert [r.reference for r in every] == ["RB-4", "RB-3", "RB-2", "RB-1"]
    assert [r.reference for r in search_api] == ["RB-3"]


async def test_the_migration_creates_the_search_structures(workspace: Uow) -> None:
    async with workspace() as work:
        if work.session.get_bind().dialect.name == "postgresql":
            found = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_runbooks_search'"
            definition = (await work.session.execute(text(found))).scalar_one()
            assert "USING gin" in definition and "to_tsvector" in definition
        else:
            found = "SELECT name FROM sqlite_master WHERE name LIKE 'runbooks_fts%' AND type IN ('table', 'trigger')"
            names = set((await work.session.execute(text(found))).scalars())
            assert {"runbooks_fts", "runbooks_fts_insert", "runbooks_fts_update", "runbooks_fts_delete"} <= names

"""Locks against the real store, on SQLite and PostgreSQL: one per scope, expiry, breaking, reminders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import configuration, locks
from core.errors import Conflict, NotFound, PermissionDenied
from core.model import Actor, Lock, Role
from storage.rows import AuditRow, LockRow, OutboxRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import ADMIN, DEV, VIEWER, FrozenClock

Uow = Callable[[], SqlUnitOfWork]
CAROL = Actor(user_id="U0CAROL003", role=Role.DEVELOPER)
SYSTEM = Actor(user_id="releasebot", role=Role.ADMIN)


async def _lock(
    uow: Uow, clock: FrozenClock, actor: Actor = DEV, *, service: str | None = None, **options: Any
) -> Lock:
    async with uow() as work:
        lock = await locks.lock_scope(
            work,
            actor=actor,
            environment="staging",
            service=service,
            duration_s=options.get("duration_s"),
            reason=options.get("reason"),
            now=clock(),
            request_id=None,
        )
        await asyncio.sleep(options.get("hold", 0))  # widen the window between the check and the commit
        await work.commit()
    return lock


async def _rows(uow: Uow, row: Any, *where: Any) -> list[Any]:
    async with uow() as work:
        found = list((await work.session.execute(select(row).where(*where).order_by(row.id))).scalars())
        work.session.expunge_all()  # keep them readable after the session ends
    return found


async def _upkeep(uow: Uow, clock: FrozenClock) -> int:
    async with uow() as work:
        acted = await locks.expire_and_remind(work, actor=SYSTEM, now=clock())
        await asyncio.sleep(0.05)
        await work.commit()
    return acted


async def test_a_lock_is_stored_audited_and_announced_in_the_service_channel(
    workspace: Uow, clock: FrozenClock
) -> None:
    lock = await _lock(workspace, clock, service="payments-api", duration_s=7200, reason="ledger migration")
    assert (lock.reference, lock.expires_at) == ("L-1", clock() + timedelta(hours=2))
    [row] = await _rows(workspace, LockRow)
    assert (row.owner, row.reason, row.released_at) == (DEV.user_id, "ledger migration", None)
    [audit] = await _rows(workspace, AuditRow, AuditRow.action == "lock.create")
    assert audit.target == "L-1" and audit.details["service"] == "payments-api"
    [notice] = await _rows(workspace, OutboxRow, OutboxRow.kind == "lock.notice")
    assert (notice.channel, notice.data["event"], notice.data["owner"]) == ("C0PAYMENTS1", "locked", DEV.user_id)


async def test_a_second_lock_on_the_same_scope_is_refused_naming_the_holder(workspace: Uow, clock: FrozenClock) -> None:
    await _lock(workspace, clock, duration_s=7200, reason="load test")
    with pytest.raises(Conflict) as caught:
        await _lock(workspace, clock, CAROL)
    assert caught.value.message == ("*staging* is already locked by <@U0DEV00001> until 11:00 UTC: load test (L-1).")
    with pytest.raises(Conflict, match="You already hold the lock on"):
        await _lock(workspace, clock)
    assert len(await _rows(workspace, LockRow)) == 1


async def test_two_sessions_racing_for_one_scope_leave_exactly_one_lock(workspace: Uow, clock: FrozenClock) -> None:
    outcomes = await asyncio.gather(
        _lock(workspace, clock, DEV, hold=0.05), _lock(workspace, clock, CAROL, hold=0.05), return_exceptions=True
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "Lock"]
    [winner] = [o for o in outcomes if isinstance(o, Lock)]
    [refusal] = [o for o in outcomes if isinstance(o, Conflict)]
    assert refusal.message == f"*staging* is already locked by <@{winner.owner}> until unlocked (L-1)."
    assert len(await _rows(workspace, LockRow)) == 1


async def test_the_database_itself_keeps_one_unreleased_lock_per_scope(workspace: Uow, clock: FrozenClock) -> None:
    async def insert(owner: str) -> str:
        async with workspace() as work:
            try:
                await work.locks.add(Lock("staging", owner, clock(), service="payments-api"))
            except Conflict as error:
                return error.message
            await asyncio.sleep(0.05)
            await work.commit()
        return "added"

    outcomes = await asyncio.gather(insert("U0ONE00001"), insert("U0TWO00002"))
    assert sorted(outcomes) == ["That scope was locked by someone else a moment ago.", "added"]


async def test_an_expired_lock_is_released_before_a_new_one_is_taken(workspace: Uow, clock: FrozenClock) -> None:
    await _lock(workspace, clock, duration_s=3600)
    clock.advance(minutes=61)
    second = await _lock(workspace, clock, CAROL, duration_s=600)
    first_row, second_row = await _rows(workspace, LockRow)
    assert first_row.released_at == clock() and first_row.released_by is None
    assert (second.owner, second_row.released_at) == (CAROL.user_id, None)
    direct = await _rows(workspace, OutboxRow, OutboxRow.kind == "lock.direct")
    assert [(d.channel, d.data["event"]) for d in direct] == [(DEV.user_id, "expired")]


async def test_the_owner_deploys_through_their_own_lock_and_nobody_else_does(
    workspace: Uow, clock: FrozenClock
) -> None:
    async with workspace() as work:
        common = {"actor": ADMIN, "now": clock(), "request_id": None}
        await configuration.add_service(work, name="ledger", team="payments", channel="C0LEDGER01", repo=None, **common)
        await work.commit()
    await _lock(workspace, clock, service="payments-api", duration_s=3600)

    async def blocking(actor_id: str, service: str, environment: str = "staging") -> str | None:
        async with workspace() as work:
            found = await locks.blocking_lock(
                work, actor_id=actor_id, service=service, environment=environment, now=clock()
            )
        return found.reference if found else None

    assert await blocking(DEV.user_id, "payments-api") is None
    assert await blocking(CAROL.user_id, "payments-api") == "L-1"
    assert await blocking(CAROL.user_id, "ledger") is None
    assert await blocking(CAROL.user_id, "payments-api", "production") is None
    await _lock(workspace, clock, CAROL, duration_s=3600)  # the whole environment
    assert await blocking(DEV.user_id, "ledger") == "L-2"
    clock.advance(hours=1)
    assert await blocking(CAROL.user_id, "payments-api") is None  # expired locks block nobody


async def test_a_developer_cannot_unlock_someone_elses_lock(workspace: Uow, clock: FrozenClock) -> None:
    await _lock(workspace, clock, reason="ledger")
    async with workspace() as work:
        with pytest.raises(PermissionDenied) as caught:
            await locks.unlock_scope(
                work, actor=CAROL, environment="staging", service=None, force_reason="x", now=clock(), request_id=None
            )
        with pytest.raises(PermissionDenied, match="You can't unlock environments"):
            await locks.unlock_scope(
                work, actor=VIEWER, environment="staging", service=None, force_reason=None, now=clock(), request_id=None
            )
        with pytest.raises(NotFound, match=r"^\*payments-api\* in \*staging\* is not locked\.$"):
            await locks.unlock_scope(
                work,
                actor=DEV,
                environment="staging",
                service="payments-api",
                force_reason=None,
                now=clock(),
                request_id=None,
            )
    assert caught.value.message == (
        "*staging* is locked by <@U0DEV00001> until unlocked: ledger: only <@U0DEV00001> or an admin can unlock it."
    )
    [row] = await _rows(workspace, LockRow)
    assert row.released_at is None


async def test_an_admin_breaks_a_lock_with_a_reason_as_an_audited_bypass(workspace: Uow, clock: FrozenClock) -> None:
    await _lock(workspace, clock, service="payments-api")
    async with workspace() as work:
        with pytest.raises(Conflict, match="the lock is not yours"):
            await locks.unlock_scope(
                work,
                actor=ADMIN,
                environment="staging",
                service="payments-api",
                force_reason=None,
                now=clock(),
                request_id=None,
            )
        lock, broken = await locks.unlock_scope(
            work,
            actor=ADMIN,
            environment="staging",
            service="payments-api",
            force_reason="hotfix for INC-7",
            now=clock(),
            request_id="r1",
        )
        await work.commit()
    assert broken and lock.released_at == clock()
    [row] = await _rows(workspace, LockRow)
    assert (row.released_at, row.released_by) == (clock(), ADMIN.user_id)
    [audit] = await _rows(workspace, AuditRow, AuditRow.action == "lock.break")
    assert audit.actor == ADMIN.user_id
    assert audit.details == {
        "environment": "staging",
        "service": "payments-api",
        "owner": DEV.user_id,
        "bypass": "lock",
        "reason": "hotfix for INC-7",
    }
    sent = await _rows(workspace, OutboxRow, OutboxRow.kind.like("lock.%"))
    told = [(o.kind, o.channel, o.data["event"]) for o in sent]
    assert told[-2:] == [("lock.notice", "C0PAYMENTS1", "broken"), ("lock.direct", DEV.user_id, "broken")]


async def test_the_reminder_goes_out_once_when_two_replicas_run_the_job_at_once(
    workspace: Uow, clock: FrozenClock
) -> None:
    await _lock(workspace, clock, duration_s=3600)
    clock.advance(minutes=44)
    assert await _upkeep(workspace, clock) == 0  # 16 minutes left: too early
    clock.advance(minutes=1)
    assert sorted(await asyncio.gather(_upkeep(workspace, clock), _upkeep(workspace, clock))) == [0, 1]
    assert await _upkeep(workspace, clock) == 0
    reminders = await _rows(workspace, OutboxRow, OutboxRow.kind == "lock.direct")
    assert [(r.channel, r.data["event"]) for r in reminders] == [(DEV.user_id, "reminder")]
    [row] = await _rows(workspace, LockRow)
    assert row.reminded_at == clock()


async def test_the_job_releases_an_expired_lock_once_and_tells_the_owner(workspace: Uow, clock: FrozenClock) -> None:
    await _lock(workspace, clock, duration_s=600)
    assert await _upkeep(workspace, clock) == 0  # a 10-minute lock starts inside the reminder window: no reminder
    clock.advance(minutes=10)
    assert sorted(await asyncio.gather(_upkeep(workspace, clock), _upkeep(workspace, clock))) == [0, 1]
    [row] = await _rows(workspace, LockRow)
    assert row.released_at == clock()
    direct = await _rows(workspace, OutboxRow, OutboxRow.kind == "lock.direct")
    assert [(d.channel, d.data["event"]) for d in direct] == [(DEV.user_id, "expired")]
    notices = await _rows(workspace, OutboxRow, OutboxRow.kind == "lock.notice")
    assert [n.data["event"] for n in notices] == ["locked", "expired"]
    assert len(await _rows(workspace, AuditRow, AuditRow.action == "lock.expire")) == 1
    async with workspace() as work:
        assert await work.locks.list_active(now=clock()) == []

"""Freezes against the real store, on SQLite and PostgreSQL: one-off and recurring, listing, cancelling."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import freezes
from core.errors import Conflict, Invalid, NotFound, PermissionDenied
from core.model import Freeze, FreezeWindow
from storage.rows import AuditRow, FreezeRow, OutboxRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import ADMIN, DEV, FrozenClock

Uow = Callable[[], SqlUnitOfWork]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _freeze(uow: Uow, clock: FrozenClock, *, start: datetime | None, end: datetime, **options: Any) -> Freeze:
    async with uow() as work:
        freeze = await freezes.freeze_environment(
            work,
            actor=options.get("actor", ADMIN),
            environment=options.get("environment", "production"),
            starts_at=start,
            ends_at=end,
            reason=options.get("reason"),
            now=clock(),
            request_id=None,
        )
        await work.commit()
    return freeze


async def _active(uow: Uow, now: datetime, environment: str = "production") -> FreezeWindow | None:
    async with uow() as work:
        return await freezes.active_freeze(work, environment=environment, now=now)


async def _unfreeze(uow: Uow, clock: FrozenClock, freeze_id: int, *, hold: float = 0) -> str:
    try:
        async with uow() as work:
            await freezes.unfreeze(work, actor=ADMIN, freeze_id=freeze_id, now=clock(), request_id=None)
            await asyncio.sleep(hold)
            await work.commit()
    except (Conflict, NotFound) as error:
        return error.message
    return "cancelled"


async def _weekend(uow: Uow, **changes: Any) -> bool:
    values = {"cron": "0 18 * * fri", "duration_s": 63 * 3600, "timezone": "Europe/Paris", "reason": "weekend"}
    async with uow() as work:
        changed = await work.freezes.upsert_recurring(
            Freeze(environment="production", created_by="config", created_at=utc(2026, 11, 1), **(values | changes))
        )
        await work.commit()
    return changed


async def test_a_one_off_freeze_holds_from_its_start_until_its_end(workspace: Uow, clock: FrozenClock) -> None:
    start, end = clock() + timedelta(hours=1), clock() + timedelta(hours=3)
    freeze = await _freeze(workspace, clock, start=start, end=end, reason="board demo")
    assert await _active(workspace, clock()) is None
    window = await _active(workspace, start)
    assert window is not None and (window.freeze.reference, window.starts_at, window.ends_at) == ("F-1", start, end)
    assert freezes.describe_freeze(window) == "frozen until 12:00 UTC: board demo"
    assert await _active(workspace, end) is None
    assert await _active(workspace, start, "staging") is None
    async with workspace() as work:
        audit = (await work.session.execute(select(AuditRow).where(AuditRow.action == "freeze.create"))).scalar_one()
        notice = (await work.session.execute(select(OutboxRow).where(OutboxRow.kind == "freeze.notice"))).scalar_one()
        assert (audit.target, audit.details["until"]) == ("F-1", end.isoformat())
        assert (notice.channel, notice.data["event"], notice.data["reference"]) == ("C0PAYMENTS1", "frozen", "F-1")
    assert freeze.starts_at == start


@pytest.mark.parametrize(
    ("start_h", "end_h", "message"),
    [
        (
            2,
            1,
            "`until` must be after `from`: the freeze would start 2026-11-02 11:00 UTC and end 2026-11-02 10:00 UTC.",
        ),
        (None, -1, "`until` is in the past (2026-11-02 08:00 UTC; it is 2026-11-02 09:00 UTC now)"),
        (None, 24 * 400, "A freeze may end at most a year from now"),
    ],
)
async def test_a_freeze_that_ends_before_it_starts_or_in_the_past_is_refused(
    workspace: Uow, clock: FrozenClock, start_h: int | None, end_h: int, message: str
) -> None:
    start = clock() + timedelta(hours=start_h) if start_h is not None else None
    with pytest.raises(Invalid) as caught:
        await _freeze(workspace, clock, start=start, end=clock() + timedelta(hours=end_h))
    assert caught.value.message.startswith(message)
    async with workspace() as work:
        assert (await work.session.execute(select(FreezeRow))).first() is None


async def test_only_admins_freeze_and_unknown_environments_are_named(workspace: Uow, clock: FrozenClock) -> None:
    with pytest.raises(PermissionDenied, match=re.escape("You can't freeze environments: your role is developer.")):
        await _freeze(workspace, clock, start=None, end=clock() + timedelta(hours=1), actor=DEV)
    with pytest.raises(NotFound) as caught:
        await _freeze(workspace, clock, start=None, end=clock() + timedelta(hours=1), environment="moon")
    assert caught.value.render() == (
        "There is no environment `moon`.\nEnvironments: `staging`, `production`. "
        "An admin adds one with `/release env add <name>`."
    )


async def test_unfreeze_cancels_once_even_when_two_admins_race(workspace: Uow, clock: FrozenClock) -> None:
    freeze = await _freeze(workspace, clock, start=None, end=clock() + timedelta(hours=2))
    assert freeze.id is not None
    outcomes = await asyncio.gather(
        _unfreeze(workspace, clock, freeze.id, hold=0.05), _unfreeze(workspace, clock, freeze.id, hold=0.05)
    )
    assert sorted(outcomes)[1] == "cancelled"
    assert sorted(outcomes)[0] in (
        "F-1 was cancelled a moment ago.",
        "F-1 was already cancelled, 2026-11-02 09:00 UTC.",
    )
    assert await _active(workspace, clock()) is None
    assert await _unfreeze(workspace, clock, freeze.id) == "F-1 was already cancelled, 2026-11-02 09:00 UTC."
    assert await _unfreeze(workspace, clock, 99) == "There is no freeze F-99."
    async with workspace() as work:
        row = (await work.session.execute(select(FreezeRow))).scalar_one()
        assert (row.cancelled_at, row.cancelled_by) == (clock(), ADMIN.user_id)
        cancels = (await work.session.execute(select(AuditRow).where(AuditRow.action == "freeze.cancel"))).all()
        assert len(cancels) == 1


async def test_a_recurring_freeze_holds_on_its_weekend_and_not_on_weekdays(workspace: Uow, clock: FrozenClock) -> None:
    assert await _weekend(workspace) is True
    assert await _weekend(workspace, cron="0  18 * *   fri") is False  # the same key, written loosely
    saturday = await _active(workspace, utc(2026, 11, 7, 12))
    assert saturday is not None
    assert (saturday.starts_at, saturday.ends_at) == (utc(2026, 11, 6, 17), utc(2026, 11, 9, 8))
    assert freezes.describe_freeze(saturday) == "frozen until Mon 08:00 UTC: weekend"
    assert await _active(workspace, utc(2026, 11, 9, 8)) is None  # Monday 09:00 in Paris
    assert await _active(workspace, utc(2026, 11, 4, 12)) is None  # Wednesday
    assert await _weekend(workspace, duration_s=60 * 3600) is True
    assert await _active(workspace, utc(2026, 11, 9, 5)) is None  # ends Monday 06:00 in Paris now
    async with workspace() as work:
        assert [f.duration_s for f in await work.freezes.recurring("production")] == [60 * 3600]


async def test_freezes_lists_what_holds_and_what_comes_with_the_next_recurrence(
    workspace: Uow, clock: FrozenClock
) -> None:
    await _weekend(workspace)
    now = clock()
    await _freeze(workspace, clock, start=None, end=now + timedelta(hours=2), reason="now")
    await _freeze(workspace, clock, start=now + timedelta(days=1), end=now + timedelta(days=2), environment="staging")
    ended = await _freeze(workspace, clock, start=None, end=now + timedelta(minutes=30))
    cancelled = await _freeze(workspace, clock, start=None, end=now + timedelta(hours=5))
    assert cancelled.id is not None and ended.id is not None
    assert await _unfreeze(workspace, clock, cancelled.id) == "cancelled"
    clock.advance(hours=1)
    async with workspace() as work:
        windows = await freezes.list_freezes(work, actor=DEV, now=clock())
        with pytest.raises(
            Invalid, match=r"F-1 is a recurring freeze \(`0 18 \* \* fri`\) from the configuration file"
        ):
            await freezes.unfreeze(work, actor=ADMIN, freeze_id=1, now=clock(), request_id=None)
    assert [(w.freeze.reference, w.starts_at) for w in windows] == [
        ("F-2", now),
        ("F-3", now + timedelta(days=1)),
        ("F-1", utc(2026, 11, 6, 17)),
    ]
    assert await _unfreeze(workspace, clock, ended.id) == "F-4 already ended, 2026-11-02 09:30 UTC."

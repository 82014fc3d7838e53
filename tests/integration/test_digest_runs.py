"""The weekly digest is sent exactly once per scope and week: two replicas at once, a run missed while the
bot was down (caught up within the grace period only), and a restart after sending."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.digest import DigestRun, last_full_week
from core.digests import DigestTarget, send_digest
from core.dora import Scope, ScopeKind
from core.model import Team
from handlers.digest import send_due_digests
from handlers.jobs import SYSTEM
from storage.engine import create_engine, session_factory
from storage.rows import AuditRow, DigestRunRow, OutboxRow
from storage.uow import unit_of_work_factory
from tests.integration.conftest import FrozenClock
from tests.integration.test_digest import (
    GRACE,
    MONDAY_NINE,
    PAYMENTS_API_CHANNEL,
    PAYMENTS_CHANNEL,
    Uow,
    at,
    deps_for,
    seed,
)

TEAM = Team(name="payments", slack_channel=PAYMENTS_CHANNEL)
WEEK = last_full_week(MONDAY_NINE, "UTC")


async def counts(uow: Uow) -> tuple[list[tuple[str, str]], list[str], int]:
    """The digest runs (scope, week start), the channels of the digest messages, the ``digest.sent`` audits."""
    async with uow() as work:
        session = work.session
        runs = (await session.execute(select(DigestRunRow.scope, DigestRunRow.period_start))).all()
        channels = (await session.execute(select(OutboxRow.channel).where(OutboxRow.kind == "digest.weekly"))).scalars()
        audited = (await session.execute(select(func.count()).where(AuditRow.action == "digest.sent"))).scalar_one()
        return sorted((scope, start.date().isoformat()) for scope, start in runs), sorted(channels), audited


SENT_ONCE = (
    [("service:payments-api", "2026-11-02"), ("team:payments", "2026-11-02")],
    sorted([PAYMENTS_CHANNEL, PAYMENTS_API_CHANNEL]),
    2,
)


async def test_two_replicas_running_the_job_at_once_post_each_digest_once(
    database_url: str, migrated_engine: AsyncEngine, uow: Uow, clock: FrozenClock
) -> None:
    await seed(uow)
    other = create_engine(database_url)
    try:
        replica = unit_of_work_factory(session_factory(other), clock)
        sent = await asyncio.gather(
            send_due_digests(deps_for(uow, clock), grace=GRACE, now=MONDAY_NINE),
            send_due_digests(deps_for(replica, clock), grace=GRACE, now=MONDAY_NINE),
            send_due_digests(deps_for(replica, clock), grace=GRACE, now=MONDAY_NINE + timedelta(seconds=1)),
        )
    finally:
        await other.dispose()

    assert sum(sent) == 2
    assert await counts(uow) == SENT_ONCE


async def test_two_runs_that_both_composed_the_digest_queue_it_once(
    database_url: str, migrated_engine: AsyncEngine, uow: Uow, clock: FrozenClock
) -> None:
    """Both runs pass the "already sent?" check before either commits: the unique claim decides."""
    await seed(uow)
    other = create_engine(database_url)
    target = DigestTarget(Scope(ScopeKind.TEAM, "payments"), PAYMENTS_CHANNEL)
    checked = asyncio.Barrier(2)

    async def run(factory: Uow, name: str) -> bool:
        async with factory() as work:
            # On SQLite the second transaction cannot even begin before the first ends (BEGIN IMMEDIATE).
            if work.session.get_bind().dialect.name == "postgresql":
                assert await work.digests.sent("team:payments", WEEK.start) is None
                await checked.wait()
            queued = await send_digest(
                work, team=TEAM, target=target, period=WEEK, actor=SYSTEM, now=MONDAY_NINE, claimed_by=name
            )
            await asyncio.sleep(0.05)  # hold the transaction open: the other run reaches its claim meanwhile
            await work.commit()
            return queued

    try:
        replica = unit_of_work_factory(session_factory(other), clock)
        outcomes = await asyncio.gather(run(uow, "replica-1"), run(replica, "replica-2"))
    finally:
        await other.dispose()

    assert sorted(outcomes) == [False, True]
    runs, channels, audited = await counts(uow)
    assert (runs, channels, audited) == ([("team:payments", "2026-11-02")], [PAYMENTS_CHANNEL], 1)


async def test_a_lost_claim_leaves_the_transaction_usable(uow: Uow, clock: FrozenClock) -> None:
    run = DigestRun("team:payments", WEEK.start, WEEK.end, {"sent": "first"}, MONDAY_NINE)
    async with uow() as work:
        assert await work.digests.claim(run, claimed_by="replica-1")
        await work.commit()

    async with uow() as work:
        lost = await work.digests.claim(
            DigestRun("team:payments", WEEK.start, WEEK.end, {}, MONDAY_NINE), claimed_by="x"
        )
        other_week = await work.digests.claim(
            DigestRun("team:payments", WEEK.end, WEEK.end + timedelta(days=7), {"sent": "next"}, MONDAY_NINE),
            claimed_by="replica-2",
        )
        stored = await work.digests.sent("team:payments", WEEK.start)
        await work.commit()

    assert (lost, other_week) == (False, True)
    assert stored is not None and stored.payload == {"sent": "first"}
    async with uow() as work:
        assert (await work.digests.sent("team:payments", WEEK.end)) is not None


async def test_a_run_missed_while_the_bot_was_down_is_caught_up_within_the_grace_period(
    uow: Uow, clock: FrozenClock
) -> None:
    await seed(uow)
    deps = deps_for(uow, clock)

    assert await send_due_digests(deps, grace=GRACE, now=at("2026-11-10T08:59")) == 2  # 23 h 59 min late

    assert await counts(uow) == SENT_ONCE


async def test_a_run_missed_for_longer_than_the_grace_period_is_not_sent(uow: Uow, clock: FrozenClock) -> None:
    await seed(uow)
    deps = deps_for(uow, clock)

    assert await send_due_digests(deps, grace=GRACE, now=at("2026-11-10T09:01")) == 0
    assert await send_due_digests(deps, grace=timedelta(hours=6), now=at("2026-11-09T15:01")) == 0
    assert await send_due_digests(deps, grace=GRACE, now=at("2026-11-09T08:59")) == 0  # not yet this week's

    assert await counts(uow) == ([], [], 0)


async def test_a_restart_after_sending_sends_nothing_again(
    database_url: str, migrated_engine: AsyncEngine, uow: Uow, clock: FrozenClock
) -> None:
    await seed(uow)
    assert await send_due_digests(deps_for(uow, clock), grace=GRACE, now=MONDAY_NINE) == 2
    await migrated_engine.dispose()

    restarted = create_engine(database_url)
    try:
        after = unit_of_work_factory(session_factory(restarted), clock)
        again = [
            await send_due_digests(deps_for(after, clock), grace=GRACE, now=MONDAY_NINE + timedelta(minutes=m))
            for m in (1, 5, 60 * 23)
        ]
    finally:
        await restarted.dispose()

    assert again == [0, 0, 0]
    assert await counts(uow) == SENT_ONCE


async def test_two_processes_running_the_job_for_the_same_week_post_each_digest_once(
    database_url: str, migrated_engine: AsyncEngine, uow: Uow
) -> None:
    import sys

    await seed(uow)
    command = [
        sys.executable,
        "-m",
        "tests.support.digest_process",
        database_url,
        MONDAY_NINE.isoformat(),
        str(GRACE.total_seconds()),
    ]
    processes = [
        await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        for _ in range(2)
    ]
    for process in processes:  # both connected; then released together
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"ready"
    outputs = await asyncio.gather(*(process.communicate(b"go\n") for process in processes))

    assert [process.returncode for process in processes] == [0, 0]
    assert sorted(int(out.strip().splitlines()[-1]) for out, _ in outputs) in ([0, 2], [1, 1])
    assert await counts(uow) == SENT_ONCE

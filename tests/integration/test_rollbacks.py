"""Rollbacks on both databases: the target, a rollback of a rollback, `to <version>`, nothing to go back to,
bad releases and their override, rollback approvals, and two rollbacks racing."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from core import deployments, pipeline, policies, releases, rollbacks
from core.deployment_views import describe_deployment
from core.errors import Conflict, NotFound
from core.model import Actor, Role, StageSpec, StageStatus
from core.text import slack_date
from storage.engine import create_engine, session_factory
from storage.rows import AuditRow, DeploymentRow, LockRow, ReleaseRow, RollbackRow
from storage.uow import SqlUnitOfWork, unit_of_work_factory
from tests.integration.conftest import ADMIN, DEV, FrozenClock

Uow = Callable[[], SqlUnitOfWork]
CAROL = Actor(user_id="U0CAROL003", role=Role.DEVELOPER)


async def ship(uow: Uow, clock: FrozenClock, version: str, environment: str = "production", **extra: str) -> int:
    """Create the release if needed and deploy it; returns the deployment id."""
    clock.advance(minutes=5)
    async with uow() as work:
        if await work.releases.get("payments-api", version) is None:
            await releases.create_release(
                work,
                actor=DEV,
                service="payments-api",
                version=version,
                commit=None,
                notes=None,
                now=clock(),
                request_id=None,
            )
        outcome = await deployments.request_deployment(
            work,
            actor=DEV,
            service="payments-api",
            version=version,
            environment=environment,
            now=clock(),
            request_id=None,
            **extra,
        )
        await work.commit()
    assert outcome.deployment.id is not None
    return outcome.deployment.id


async def roll_back(uow: Uow, clock: FrozenClock, actor: Actor = DEV, **extra: object) -> rollbacks.RollbackOutcome:
    clock.advance(minutes=5)
    async with uow() as work:
        outcome = await rollbacks.roll_back(
            work,
            actor=actor,
            service="payments-api",
            environment="production",
            now=clock(),
            request_id=None,
            **extra,  # type: ignore[arg-type]
        )
        await work.commit()
    return outcome


async def refusal(uow: Uow, clock: FrozenClock, **extra: object) -> str:
    with pytest.raises((Conflict, NotFound)) as caught:
        await roll_back(uow, clock, **extra)
    return caught.value.render()


async def with_stages(uow: Uow, clock: FrozenClock, *stages: StageSpec) -> None:
    async with uow() as work:
        environment = await work.environments.get("production")
        assert environment is not None
        environment.stages = list(stages)
        await work.environments.upsert(environment, now=clock())
        await work.commit()


async def fail(uow: Uow, clock: FrozenClock, deployment_id: int) -> None:
    """Run the deployment's first stage and report it failed."""
    async with uow() as work:
        run = await pipeline.claim_stage(work, runner="test", now=clock(), callback_base_url=None)
        assert run is not None and run.deployment_id == deployment_id
        await pipeline.report_stage(
            work, deployment_id=deployment_id, position=0, status=StageStatus.FAILED, now=clock(), exit_code=3
        )
        await work.commit()


async def statuses(uow: Uow) -> dict[int, tuple[str, str]]:
    async with uow() as work:
        rows = await work.session.execute(select(DeploymentRow.id, DeploymentRow.status, DeploymentRow.kind))
        return {row[0]: (row[1], row[2]) for row in rows.all()}


async def bad_versions(uow: Uow) -> list[str]:
    async with uow() as work:
        rows = await work.session.execute(select(ReleaseRow.version).where(ReleaseRow.status == "bad"))
        return sorted(rows.scalars())


async def audit_actions(uow: Uow) -> list[tuple[str, str | None]]:
    async with uow() as work:
        rows = await work.session.execute(select(AuditRow.action, AuditRow.target).order_by(AuditRow.id))
        return [(action, target) for action, target in rows.all()]


async def count(uow: Uow, column: object) -> int:
    async with uow() as work:
        return int((await work.session.execute(select(func.count(column)))).scalar_one())


async def test_rollback_goes_to_the_last_version_that_succeeded_before_the_current_one(
    workspace: Uow, clock: FrozenClock
) -> None:
    for version in ("v1", "v2", "v3"):
        await ship(workspace, clock, version)
    outcome = await roll_back(workspace, clock, reason="checkout errors")
    assert (outcome.rolled_back.reference, outcome.deployment.reference) == ("D-3", "D-4")
    assert (outcome.deployment.version, outcome.deployment.kind, outcome.deployment.rollback_of_id) == (
        "v2",
        "rollback",
        3,
    )
    assert await statuses(workspace) == {
        1: ("success", "deploy"),
        2: ("success", "deploy"),
        3: ("rolled_back", "deploy"),
        4: ("success", "rollback"),
    }
    assert await bad_versions(workspace) == ["v3"]
    async with workspace() as work:
        row = (await work.session.execute(select(RollbackRow))).scalar_one()
        assert (row.from_deployment_id, row.to_release_id, row.deployment_id) == (3, 2, 4)
        assert (row.reason, row.initiated_by, row.created_at) == ("checkout errors", DEV.user_id, clock())
        lock = (await work.session.execute(select(LockRow))).scalar_one()
        assert (lock.owner, lock.reason, lock.expires_at, lock.released_at) == (
            DEV.user_id,
            "checkout errors",
            None,
            None,
        )
    assert outcome.lock is not None and outcome.lock_created and outcome.lock.service == "payments-api"
    assert (await audit_actions(workspace))[-5:] == [
        ("deployment.request", "D-4"),
        ("deployment.success", "D-4"),
        ("deployment.rollback", "D-3"),
        ("release.bad", "R-3"),
        ("lock.create", "L-1"),
    ]


async def test_a_rollback_of_a_rollback_goes_one_good_version_further_back(workspace: Uow, clock: FrozenClock) -> None:
    for version in ("v1", "v2", "v3"):
        await ship(workspace, clock, version)
    first = await roll_back(workspace, clock, reason="v3 breaks checkout")
    second = await roll_back(workspace, clock, reason="v2 breaks refunds")
    assert (second.rolled_back.reference, second.rolled_back.kind, second.deployment.version) == (
        "D-4",
        "rollback",
        "v1",
    )
    assert second.deployment.rollback_of_id == 4
    assert await bad_versions(workspace) == ["v2", "v3"]
    assert first.lock is not None and second.lock is not None
    assert (second.lock.id, second.lock_created) == (first.lock.id, False)
    assert await count(workspace, LockRow.id) == 1
    assert await count(workspace, RollbackRow.id) == 2
    third = await refusal(workspace, clock)
    assert third == (
        "There is no earlier good version of payments-api in production to roll back to: no other version that is "
        "not marked bad succeeded there before D-5 (`v1`).\n"
        "Deploy a fixed version instead: `/release deploy payments-api <version> to production`."
    )


async def test_rollback_to_a_named_version_that_succeeded_there(workspace: Uow, clock: FrozenClock) -> None:
    for version in ("v1", "v2", "v3"):
        await ship(workspace, clock, version)
    outcome = await roll_back(workspace, clock, to_version="v1", lock=False)
    assert (outcome.deployment.version, outcome.lock) == ("v1", None)
    assert await count(workspace, LockRow.id) == 0


async def test_rollback_to_a_version_that_did_not_run_there_is_refused_precisely(
    workspace: Uow, clock: FrozenClock
) -> None:
    await ship(workspace, clock, "v1")
    await ship(workspace, clock, "v9", environment="staging")
    await ship(workspace, clock, "v2")
    assert await refusal(workspace, clock, to_version="v9") == (
        "payments-api `v9` never succeeded in production before D-3: a rollback goes back to a version that ran "
        "there.\nVersions that succeeded there before: `v1`."
    )
    assert await refusal(workspace, clock, to_version="v7") == (
        "`payments-api` has no release `v7`.\nCreate it first: `/release create payments-api v7 commit <sha>`."
    )
    assert await refusal(workspace, clock, to_version="v2") == (
        "`v2` is the version being rolled back (D-3).\nName an earlier version, or leave out `to` for the last good one."
    )
    assert await count(workspace, RollbackRow.id) == 0
    assert await bad_versions(workspace) == []


async def test_nothing_to_roll_back_or_to_roll_back_to(workspace: Uow, clock: FrozenClock) -> None:
    assert await refusal(workspace, clock) == (
        "payments-api has no deployment to production that succeeded or failed: there is nothing to roll back.\n"
        "`/release status payments-api` shows what runs where."
    )
    await ship(workspace, clock, "v1")
    await ship(workspace, clock, "v1")
    assert await refusal(workspace, clock) == (
        "There is no earlier good version of payments-api in production to roll back to: no other version that is "
        "not marked bad succeeded there before D-2 (`v1`).\n"
        "Deploy a fixed version instead: `/release deploy payments-api <version> to production`."
    )
    assert await statuses(workspace) == {1: ("success", "deploy"), 2: ("success", "deploy")}


async def test_a_failed_deployment_rolls_back_to_the_last_success_and_an_active_one_is_refused(
    workspace: Uow, clock: FrozenClock
) -> None:
    await ship(workspace, clock, "v1")
    await with_stages(workspace, clock, StageSpec(name="deploy", command=[sys.executable, "-c", "pass"]))
    failing = await ship(workspace, clock, "v2")
    assert await refusal(workspace, clock) == (
        f"payments-api has an active deployment to production: D-2 (payments-api `v2`, requested by "
        f"<@{DEV.user_id}>, running).\nCancel it first (`/release cancel D-2`), or wait for it to finish."
    )
    await fail(workspace, clock, failing)
    async with workspace() as work:
        outcome = await rollbacks.roll_back_deployment(
            work, actor=CAROL, deployment_id=failing, now=clock(), request_id=None
        )
        await work.commit()
    assert (outcome.rolled_back.reference, outcome.deployment.version) == ("D-2", "v1")
    assert await statuses(workspace) == {
        1: ("success", "deploy"),
        2: ("rolled_back", "deploy"),
        3: ("running", "rollback"),
    }
    async with workspace() as work:
        stages = await work.stages.for_deployment(3)
        assert [s.status for s in stages] == [StageStatus.PENDING]
        view = await describe_deployment(work, 3)
        assert view is not None and view.previous_version == "v2" and view.rollback is not None
        rolled = await describe_deployment(work, 2)
        assert rolled is not None and rolled.rolled_back_by is not None
        assert rolled.rolled_back_by.initiated_by == CAROL.user_id


async def test_the_button_of_an_older_failure_is_refused_once_something_newer_ran(
    workspace: Uow, clock: FrozenClock
) -> None:
    await ship(workspace, clock, "v1")
    await with_stages(workspace, clock, StageSpec(name="deploy", command=[sys.executable, "-c", "pass"]))
    failing = await ship(workspace, clock, "v2")
    await fail(workspace, clock, failing)
    await with_stages(workspace, clock)
    await ship(workspace, clock, "v3")
    with pytest.raises(Conflict) as caught:
        async with workspace() as work:
            await rollbacks.roll_back_deployment(work, actor=DEV, deployment_id=failing, now=clock(), request_id=None)
    assert caught.value.render() == (
        "D-2 is no longer the latest deployment of payments-api to production: D-3 (`v3`, success) is.\n"
        "To roll that back: `/release rollback payments-api production`."
    )


async def test_a_bad_release_needs_an_override_recorded_as_a_bypass(workspace: Uow, clock: FrozenClock) -> None:
    await ship(workspace, clock, "v1")
    await ship(workspace, clock, "v2")
    outcome = await roll_back(workspace, clock, reason="ledger <!channel> drift")
    rolled_at = outcome.rollback.created_at
    with pytest.raises(Conflict) as caught:
        await ship(workspace, clock, "v2")
    assert caught.value.render() == (
        f"payments-api `v2` is marked bad: <@{DEV.user_id}> rolled back D-2 to `v1` with D-3 on "
        f"{slack_date(rolled_at)}: ledger &lt;!channel&gt; drift.\n"
        "Deploy another version, or if you must: `/release deploy payments-api v2 to production --override-bad "
        "<reason>`."
    )
    deployment_id = await ship(workspace, clock, "v2", override_bad="fixed by a config change")
    async with workspace() as work:
        deployment = await work.deployments.get(deployment_id)
        assert deployment is not None and deployment.status.value == "success"
        assert deployment.bypasses == [
            {
                "kind": "bad_release",
                "by": DEV.user_id,
                "reason": "fixed by a config change",
                "release": "R-2",
                "rollback": "D-3",
            }
        ]
        bypass = (
            await work.session.execute(select(AuditRow).where(AuditRow.action == "bypass.bad_release"))
        ).scalar_one()
        assert (bypass.target, bypass.details["reason"]) == ("D-4", "fixed by a config change")


async def test_a_rollback_waits_for_the_rollback_approvals_not_the_deploy_approvals(
    workspace: Uow, clock: FrozenClock
) -> None:
    await ship(workspace, clock, "v1")
    await ship(workspace, clock, "v2")
    async with workspace() as work:
        await policies.set_policy(
            work,
            actor=ADMIN,
            environment="production",
            approvals=2,
            approvers=None,
            expire_s=None,
            requires_env=None,
            self_approval=None,
            now=clock(),
            request_id=None,
        )
        environment = await work.environments.get("production")
        assert environment is not None
        environment.policy.rollback_approvals = 1
        await work.environments.upsert(environment, now=clock())
        await work.commit()
    outcome = await roll_back(workspace, clock)
    assert outcome.deployment.status.value == "pending_approval"
    async with workspace() as work:
        view = await describe_deployment(work, 3)
        assert view is not None and view.approvals_needed == 1


async def _race(uow: Uow, clock: FrozenClock, actor: Actor, deployment_id: int) -> str:
    try:
        async with uow() as work:
            outcome = await rollbacks.roll_back_deployment(
                work, actor=actor, deployment_id=deployment_id, now=clock(), request_id=None
            )
            await asyncio.sleep(0.05)  # widen the window between the checks and the commit
            await work.commit()
    except Conflict as error:
        return error.message
    return outcome.deployment.reference


async def test_two_rollbacks_at_once_on_two_replicas_give_one(
    database_url: str, workspace: Uow, clock: FrozenClock
) -> None:
    await ship(workspace, clock, "v1")
    await ship(workspace, clock, "v2")
    other_engine = create_engine(database_url, pool_size=5)
    try:
        other: Uow = unit_of_work_factory(session_factory(other_engine), clock)
        results = await asyncio.gather(_race(workspace, clock, DEV, 2), _race(other, clock, CAROL, 2))
    finally:
        await other_engine.dispose()
    assert "D-3" in results
    loser = next(r for r in results if r != "D-3")
    assert loser in {
        "D-2 was rolled back a moment ago.",
        f"D-2 was already rolled back with D-3 by <@{DEV.user_id}>.",
        f"D-2 was already rolled back with D-3 by <@{CAROL.user_id}>.",
    } or loser.startswith("payments-api already has an active deployment"), loser
    assert await count(workspace, RollbackRow.id) == 1
    assert [kind for _, kind in (await statuses(workspace)).values()].count("rollback") == 1
    assert await bad_versions(workspace) == ["v2"]


async def test_two_rollback_commands_at_once_give_one(workspace: Uow, clock: FrozenClock) -> None:
    await ship(workspace, clock, "v1")
    await ship(workspace, clock, "v2")

    async def attempt(actor: Actor) -> str:
        try:
            async with workspace() as work:
                outcome = await rollbacks.roll_back(
                    work, actor=actor, service="payments-api", environment="production", now=clock(), request_id=None
                )
                await asyncio.sleep(0.05)
                await work.commit()
        except Conflict as error:
            return error.message
        return outcome.deployment.reference

    results = await asyncio.gather(attempt(DEV), attempt(CAROL))
    assert results.count("D-3") == 1, results
    assert next(r for r in results if r != "D-3") in {
        "D-2 was rolled back a moment ago.",  # PostgreSQL: both read, one transition wins
        "There is no earlier good version of payments-api in production to roll back to: no other version that is "
        "not marked bad succeeded there before D-3 (`v1`).",  # SQLite: the second runs after the first
    }
    assert await count(workspace, RollbackRow.id) == 1
    assert await statuses(workspace) == {
        1: ("success", "deploy"),
        2: ("rolled_back", "deploy"),
        3: ("success", "rollback"),
    }

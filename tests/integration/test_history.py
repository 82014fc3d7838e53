"""The deployment history and the recursive release chain against the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from core import history, releases, rollbacks
from core.errors import Invalid, NotFound
from core.model import Approval, ApprovalDecision, Deployment, DeploymentStatus
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import DEV, VIEWER, FrozenClock

Uow = Callable[[], SqlUnitOfWork]
CAROL = "U0CAROL003"


async def _release(uow: Uow, clock: FrozenClock, version: str) -> int:
    async with uow() as work:
        release = await releases.create_release(
            work,
            actor=DEV,
            service="payments-api",
            version=version,
            commit=None,
            notes=None,
            now=clock(),
            request_id=f"create-{version}",
        )
        await work.commit()
    assert release.id is not None
    return release.id


async def _deployed(
    uow: Uow,
    clock: FrozenClock,
    version: str,
    status: DeploymentStatus,
    environment: str = "staging",
    approvers: tuple[str, ...] = (),
) -> int:
    """A deployment that ran for 90 s and ended in ``status``, one hour after the one before."""
    clock.advance(hours=1)
    async with uow() as work:
        release = await work.releases.get("payments-api", version)
        assert release is not None
        ran = status in (DeploymentStatus.SUCCESS, DeploymentStatus.FAILED)
        added = await work.deployments.add(
            Deployment(
                service="payments-api",
                version=version,
                environment=environment,
                status=status,
                requested_by=DEV.user_id,
                requested_at=clock() - timedelta(seconds=120),
                release_id=release.id,
                started_at=clock() - timedelta(seconds=90) if ran else None,
                finished_at=clock() if ran else None,
            )
        )
        assert added.id is not None
        for approver in approvers:
            await work.approvals.add(Approval(added.id, approver, ApprovalDecision.APPROVED, clock()))
        await work.commit()
    return added.id


async def _rolled_back(uow: Uow, clock: FrozenClock) -> int:
    clock.advance(hours=1)
    async with uow() as work:
        outcome = await rollbacks.roll_back(
            work, actor=DEV, service="payments-api", environment="staging", now=clock(), request_id="rb", lock=False
        )
        await work.commit()
    assert outcome.deployment.id is not None
    return outcome.deployment.id


@pytest.fixture
async def timeline(workspace: Uow, clock: FrozenClock) -> dict[str, int]:
    """Staging: v1, v2, v2 again, v3 failed, v3, a rollback to v2, v1 again, v4 rejected, v4; production: v1."""
    for version in ("v1", "v2", "v3", "v4"):
        await _release(workspace, clock, version)
    ids = {
        "v1": await _deployed(workspace, clock, "v1", DeploymentStatus.SUCCESS),
        "v2": await _deployed(workspace, clock, "v2", DeploymentStatus.SUCCESS),
        "v2 again": await _deployed(workspace, clock, "v2", DeploymentStatus.SUCCESS, approvers=(CAROL,)),
        "v3 failed": await _deployed(workspace, clock, "v3", DeploymentStatus.FAILED),
        "v3": await _deployed(workspace, clock, "v3", DeploymentStatus.SUCCESS),
    }
    ids["rollback"] = await _rolled_back(workspace, clock)
    ids["v1 again"] = await _deployed(workspace, clock, "v1", DeploymentStatus.SUCCESS)
    ids["production v1"] = await _deployed(workspace, clock, "v1", DeploymentStatus.SUCCESS, environment="production")
    ids["v4 rejected"] = await _deployed(workspace, clock, "v4", DeploymentStatus.REJECTED)
    ids["v4"] = await _deployed(workspace, clock, "v4", DeploymentStatus.SUCCESS, approvers=(CAROL, "U0DAVE0004"))
    return ids


async def test_the_chain_skips_redeploys_failures_and_rolled_back_releases(
    workspace: Uow, timeline: dict[str, int]
) -> None:
    async with workspace() as work:
        chain = await work.history.release_chain("payments-api", "staging", limit=10)
    assert [(step.deployment_id, step.version, step.kind) for step in chain] == [
        (timeline["v4"], "v4", "deploy"),
        (timeline["v1 again"], "v1", "deploy"),
        (timeline["rollback"], "v2", "rollback"),
        (timeline["v1"], "v1", "deploy"),
    ]
    finished = [step.finished_at for step in chain]
    assert finished == sorted(finished, reverse=True) and all(f.tzinfo is not None for f in finished)


async def test_the_chain_is_bounded_by_the_limit(workspace: Uow, timeline: dict[str, int]) -> None:
    async with workspace() as work:
        two = await work.history.release_chain("payments-api", "staging", limit=2)
        one = await work.history.release_chain("payments-api", "staging", limit=1)
        production = await work.history.release_chain("payments-api", "production", limit=5)
    assert [step.deployment_id for step in two] == [timeline["v4"], timeline["v1 again"]]
    assert [step.deployment_id for step in one] == [timeline["v4"]]
    assert [(step.deployment_id, step.version) for step in production] == [(timeline["production v1"], "v1")]


async def test_no_successful_deployment_means_an_empty_chain(workspace: Uow, clock: FrozenClock) -> None:
    await _release(workspace, clock, "v1")
    await _deployed(workspace, clock, "v1", DeploymentStatus.FAILED)
    async with workspace() as work:
        assert await work.history.release_chain("payments-api", "staging", limit=5) == []
        assert await work.history.release_chain("payments-api", "nowhere", limit=5) == []


async def test_history_pairs_each_live_release_with_its_predecessor_within_the_limit(
    workspace: Uow, timeline: dict[str, int]
) -> None:
    async with workspace() as work:
        found = await history.service_history(
            work, actor=VIEWER, service="payments-api", environment="staging", limit=3
        )
    assert [record.deployment.id for record in found.records] == [
        timeline["v4"],
        timeline["v4 rejected"],
        timeline["v1 again"],
    ]
    assert [(link.step.version, link.predecessor.version if link.predecessor else None) for link in found.chain] == [
        ("v4", "v1"),
        ("v1", "v2"),
        ("v2", "v1"),
    ]
    assert found.chain[-1].predecessor is not None
    assert found.chain[-1].predecessor.deployment_id == timeline["v1"]


async def test_history_records_carry_approvers_and_what_rollbacks_rolled_back(
    workspace: Uow, timeline: dict[str, int]
) -> None:
    async with workspace() as work:
        found = await history.service_history(work, actor=VIEWER, service="payments-api", environment=None, limit=100)
    by_id = {record.deployment.id: record for record in found.records}
    assert len(found.records) == len(timeline) and found.chain == []
    assert [record.deployment.id for record in found.records] == sorted(timeline.values(), reverse=True)
    assert by_id[timeline["v4"]].approvers == (CAROL, "U0DAVE0004")
    assert by_id[timeline["v2 again"]].approvers == (CAROL,)
    rollback = by_id[timeline["rollback"]]
    assert rollback.is_rollback and rollback.rolled_back_version == "v3"
    assert rollback.deployment.rollback_of_id == timeline["v3"]
    rolled = by_id[timeline["v3"]]
    assert rolled.deployment.status is DeploymentStatus.ROLLED_BACK and rolled.rolled_back_by == timeline["rollback"]
    assert by_id[timeline["production v1"]].deployment.environment == "production"


async def test_history_names_what_is_unknown_or_out_of_range(workspace: Uow) -> None:
    async with workspace() as work:
        with pytest.raises(NotFound, match="There is no service `billing`"):
            await history.service_history(work, actor=VIEWER, service="billing", environment=None)
        with pytest.raises(NotFound, match="There is no environment `qa`"):
            await history.service_history(work, actor=VIEWER, service="payments-api", environment="qa")
        with pytest.raises(Invalid, match="101 is out of range: the history shows 1 to 100 deployments"):
            await history.service_history(work, actor=VIEWER, service="payments-api", environment=None, limit=101)


async def test_the_latest_release_is_the_newest_created(workspace: Uow, clock: FrozenClock) -> None:
    async with workspace() as work:
        assert await work.history.latest_release("payments-api") is None
    await _release(workspace, clock, "v1")
    clock.advance(minutes=1)
    await _release(workspace, clock, "v0-hotfix")
    async with workspace() as work:
        latest = await work.history.latest_release("payments-api")
    assert latest is not None and latest.version == "v0-hotfix"

"""Cancelling deployments in each state, on both databases; the webhook stage's CI is told exactly once."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from sqlalchemy import select

from core import cancellations, deployments, pipeline, policies, releases
from core.errors import Conflict, PermissionDenied
from core.model import Actor, Role, StageSpec, StageStatus
from storage.rows import AuditRow, OutboxRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import ADMIN, DEV, FrozenClock

Uow = Callable[[], SqlUnitOfWork]
CAROL = Actor(user_id="U0CAROL003", role=Role.DEVELOPER)
SLACK_ADMIN = Actor(user_id="U0ALICE001", role=Role.ADMIN)
NOTE = f"cancelled by <@{DEV.user_id}>"
COMMAND = StageSpec(name="deploy", command=[sys.executable, "-c", "pass"])
CHECK = StageSpec(name="check", command=[sys.executable, "-c", "pass"])
WEBHOOK = StageSpec(name="ci", executor="webhook", url="http://127.0.0.1:9/hook")


async def request(uow: Uow, clock: FrozenClock, *stages: StageSpec, approvals: int = 0) -> int:
    async with uow() as work:
        environment = await work.environments.get("production")
        assert environment is not None
        environment.stages = list(stages)
        environment.webhook_secret = "s3cret"
        await work.environments.upsert(environment, now=clock())
        await policies.set_policy(
            work,
            actor=ADMIN,
            environment="production",
            approvals=approvals,
            approvers=None,
            expire_s=None,
            requires_env=None,
            self_approval=None,
            now=clock(),
            request_id=None,
        )
        await releases.create_release(
            work, actor=DEV, service="payments-api", version="v1", commit=None, notes=None, now=clock(), request_id=None
        )
        outcome = await deployments.request_deployment(
            work,
            actor=DEV,
            service="payments-api",
            version="v1",
            environment="production",
            now=clock(),
            request_id=None,
        )
        await work.commit()
    assert outcome.deployment.id is not None
    return outcome.deployment.id


async def cancel(uow: Uow, clock: FrozenClock, deployment_id: int, actor: Actor = DEV) -> cancellations.CancelOutcome:
    async with uow() as work:
        outcome = await cancellations.cancel_deployment(
            work, actor=actor, deployment_id=deployment_id, now=clock(), request_id=None
        )
        await work.commit()
    return outcome


async def claim(uow: Uow, clock: FrozenClock) -> None:
    async with uow() as work:
        assert await pipeline.claim_stage(work, runner="test", now=clock(), callback_base_url="https://bot") is not None
        await work.commit()


async def state(uow: Uow, deployment_id: int) -> tuple[str, bool, str | None, list[str]]:
    async with uow() as work:
        deployment = await work.deployments.get(deployment_id)
        assert deployment is not None
        stages = [s.status.value for s in await work.stages.for_deployment(deployment_id)]
        return deployment.status.value, deployment.cancel_requested, deployment.status_reason, stages


async def outcomes(uow: Uow) -> list[str]:
    async with uow() as work:
        rows = await work.session.execute(
            select(OutboxRow.data).where(OutboxRow.kind == "deployment.outcome").order_by(OutboxRow.id)
        )
        return [str(data["outcome"]) for data in rows.scalars()]


async def test_a_deployment_waiting_for_approval_is_cancelled_at_once(workspace: Uow, clock: FrozenClock) -> None:
    deployment_id = await request(workspace, clock, approvals=1)
    outcome = await cancel(workspace, clock, deployment_id)
    assert outcome.immediate
    assert await state(workspace, deployment_id) == ("cancelled", False, NOTE, [])
    async with workspace() as work:
        entry = (
            await work.session.execute(select(AuditRow).where(AuditRow.action == "deployment.cancel"))
        ).scalar_one()
        assert (entry.actor, entry.target, entry.details) == (DEV.user_id, "D-1", {"status": "pending_approval"})
    assert await outcomes(workspace) == []  # the requester cancelled it themselves


async def test_only_the_requester_or_an_admin_may_cancel(workspace: Uow, clock: FrozenClock) -> None:
    deployment_id = await request(workspace, clock, approvals=1)
    with pytest.raises(PermissionDenied) as caught:
        await cancel(workspace, clock, deployment_id, actor=CAROL)
    assert caught.value.render() == (
        f"Only <@{DEV.user_id}>, who requested D-1, or an admin can cancel it.\nAsk <@{DEV.user_id}> or an admin."
    )
    await cancel(workspace, clock, deployment_id, actor=SLACK_ADMIN)
    assert (await state(workspace, deployment_id))[:3] == ("cancelled", False, f"cancelled by <@{SLACK_ADMIN.user_id}>")
    assert await outcomes(workspace) == [f"cancelled by <@{SLACK_ADMIN.user_id}>"]


async def test_a_running_deployment_between_stages_is_cancelled_at_once(workspace: Uow, clock: FrozenClock) -> None:
    deployment_id = await request(workspace, clock, COMMAND, CHECK)
    outcome = await cancel(workspace, clock, deployment_id)
    assert outcome.immediate and outcome.stage is None
    assert await state(workspace, deployment_id) == ("cancelled", True, NOTE, ["skipped", "skipped"])
    async with workspace() as work:
        assert await pipeline.claim_stage(work, runner="test", now=clock(), callback_base_url=None) is None


async def test_a_running_command_stage_is_stopped_by_the_runner_then_the_deployment_is_cancelled(
    workspace: Uow, clock: FrozenClock
) -> None:
    deployment_id = await request(workspace, clock, COMMAND, CHECK)
    await claim(workspace, clock)
    outcome = await cancel(workspace, clock, deployment_id)
    assert (outcome.immediate, outcome.stage) == (False, "deploy")
    assert await state(workspace, deployment_id) == ("running", True, NOTE, ["running", "skipped"])
    with pytest.raises(Conflict, match=r"^D-1 is already being cancelled: its running stage is being stopped\.$"):
        await cancel(workspace, clock, deployment_id)
    async with workspace() as work:  # what the runner reports once it stopped the process
        report = await pipeline.report_stage(
            work, deployment_id=deployment_id, position=0, status=StageStatus.CANCELLED, now=clock(), reason="cancelled"
        )
        await work.commit()
    assert report.deployment_status is not None and report.deployment_status.value == "cancelled"
    assert await state(workspace, deployment_id) == ("cancelled", True, NOTE, ["cancelled", "skipped"])
    assert await outcomes(workspace) == [NOTE]


async def test_a_stage_that_succeeds_after_a_cancellation_was_asked_ends_the_deployment_cancelled(
    workspace: Uow, clock: FrozenClock
) -> None:
    deployment_id = await request(workspace, clock, COMMAND, CHECK)
    await claim(workspace, clock)
    await cancel(workspace, clock, deployment_id)
    async with workspace() as work:
        await pipeline.report_stage(
            work, deployment_id=deployment_id, position=0, status=StageStatus.SUCCESS, now=clock(), exit_code=0
        )
        await work.commit()
    assert await state(workspace, deployment_id) == ("cancelled", True, NOTE, ["success", "skipped"])


async def test_a_running_webhook_stage_is_cancelled_at_once_and_ci_is_told_once(
    workspace: Uow, clock: FrozenClock
) -> None:
    deployment_id = await request(workspace, clock, WEBHOOK)
    await claim(workspace, clock)
    outcome = await cancel(workspace, clock, deployment_id)
    assert (outcome.immediate, outcome.stage) == (True, "ci")
    assert await state(workspace, deployment_id) == ("cancelled", True, NOTE, ["running"])
    async with workspace() as work:
        runs = await cancellations.claim_ci_cancellations(work, now=clock(), callback_base_url="https://bot")
        await work.commit()
    assert [(run.reference, run.spec.name, run.secret, run.callback_url) for run in runs] == [
        ("D-1", "ci", "s3cret", "https://bot/hooks/deployments/D-1")
    ]
    assert runs[0].attempt_id != ""
    async with workspace() as work:
        assert await cancellations.claim_ci_cancellations(work, now=clock(), callback_base_url=None) == []
        stage = (await work.stages.for_deployment(deployment_id))[0]
        assert (stage.status, stage.reason) == (StageStatus.CANCELLED, NOTE)


async def test_a_finished_deployment_cannot_be_cancelled(workspace: Uow, clock: FrozenClock) -> None:
    deployment_id = await request(workspace, clock)
    with pytest.raises(Conflict) as caught:
        await cancel(workspace, clock, deployment_id)
    assert caught.value.render() == (
        "D-1 is already deployed: only a deployment that is waiting, queued or running can be cancelled.\n"
        "To undo it, roll back: `/release rollback payments-api production`."
    )

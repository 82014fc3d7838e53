"""The pipeline of a deployment: stages run in order; the deployment succeeds when the last stage does and
fails with the first stage that fails. Every transition is conditional, so each happens exactly once
whichever runner, replica or CI callback reports it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from core import audit
from core.deployments import find_environment, outcome_notification, status_notification
from core.durations import format_duration
from core.execution import StageRun
from core.model import (
    Actor,
    Deployment,
    DeploymentStatus,
    Environment,
    Notification,
    Role,
    Source,
    Stage,
    StageStatus,
)
from core.ports import UnitOfWork
from core.releases import find_service

OUTPUT_KIND = "stage.output"
OUTPUT_TAIL = 2500  # characters of a stage's output shown in the thread (a section holds 3000)
RUNNER_ACTOR = Actor(user_id="releasebot", role=Role.ADMIN, source=Source.SYSTEM)
FINAL_STAGE_STATUSES = {StageStatus.FAILED: DeploymentStatus.FAILED, StageStatus.CANCELLED: DeploymentStatus.CANCELLED}


async def begin(uow: UnitOfWork, deployment: Deployment, *, now: datetime, actor: Actor = RUNNER_ACTOR) -> None:
    """A deployment that starts gets its environment's stages, pending; none means it is done at once."""
    assert deployment.id is not None
    environment = await find_environment(uow, deployment.environment)
    if not environment.stages:
        await finish_deployment(
            uow, deployment, status=DeploymentStatus.SUCCESS, now=now, reason=None, actor=actor, tell_requester=False
        )
        return
    await uow.stages.create(deployment.id, environment.stages)


async def claim_stage(
    uow: UnitOfWork, *, runner: str, now: datetime, callback_base_url: str | None, limit: int = 20
) -> StageRun | None:
    """Start the next runnable stage of some running deployment; only one runner wins each stage."""
    for deployment_id, position in await uow.stages.runnable(limit=limit):
        deployment = await uow.deployments.get(deployment_id)
        if deployment is None:
            continue
        stages = await uow.stages.for_deployment(deployment_id)
        stage = stages[position]
        attempt = uuid.uuid4().hex
        deadline = now + timedelta(seconds=stage.timeout_s)
        if not await uow.stages.start(
            deployment_id, position, runner=runner, attempt=attempt, now=now, deadline=deadline
        ):
            continue
        environment = await find_environment(uow, deployment.environment)
        service = await find_service(uow, deployment.service)
        await uow.outbox.add(status_notification(deployment, service))
        return stage_run(deployment, stage, environment, attempt=attempt, callback_base_url=callback_base_url)
    return None


def stage_run(
    deployment: Deployment, stage: Stage, environment: Environment, *, attempt: str, callback_base_url: str | None
) -> StageRun:
    """What an executor needs to run (or to cancel) one stage of a deployment."""
    assert deployment.id is not None and stage.spec is not None
    callback = (
        f"{callback_base_url.rstrip('/')}/hooks/deployments/{deployment.reference}" if (callback_base_url) else None
    )
    return StageRun(
        deployment_id=deployment.id,
        reference=deployment.reference,
        service=deployment.service,
        version=deployment.version,
        commit=deployment.commit_sha,
        environment=deployment.environment,
        position=stage.position,
        spec=stage.spec,
        callback_url=callback,
        secret=environment.webhook_secret,
        attempt_id=attempt,
    )


@dataclass(frozen=True)
class StageReport:
    changed: bool
    deployment_status: DeploymentStatus | None = None


async def report_stage(
    uow: UnitOfWork,
    *,
    deployment_id: int,
    position: int,
    status: StageStatus,
    now: datetime,
    output: str | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    actor: Actor = RUNNER_ACTOR,
) -> StageReport:
    """Record how a running stage ended. A repeated or late report changes nothing."""
    deployment = await uow.deployments.get(deployment_id)
    if deployment is None:
        return StageReport(False)
    if status is StageStatus.RUNNING:
        if output:
            await uow.stages.append_output(deployment_id, position, output)
        return StageReport(False)
    if not await uow.stages.finish(
        deployment_id, position, status=status, now=now, exit_code=exit_code, reason=reason, output=output
    ):
        return StageReport(False)
    stages = await uow.stages.for_deployment(deployment_id)
    stage = stages[position]
    await audit.record(
        uow,
        actor=actor,
        action=f"stage.{status.value}",
        target=deployment.reference,
        now=now,
        request_id=None,
        details={"stage": stage.name, "position": position, "exit_code": exit_code, "reason": reason},
    )
    service = await find_service(uow, deployment.service)
    await uow.outbox.add(output_notification(deployment, stage, service.slack_channel, output or ""))
    last = position == len(stages) - 1
    if status is StageStatus.SUCCESS and not last and not deployment.cancel_requested:
        await uow.outbox.add(status_notification(deployment, service))
        return StageReport(True, DeploymentStatus.RUNNING)
    final, failure = _ending(deployment, stage, status, reason, last=last)
    await uow.stages.skip_pending(deployment_id)
    cancelled_by = failure if deployment.cancel_requested and final is DeploymentStatus.CANCELLED else None
    await finish_deployment(uow, deployment, status=final, now=now, reason=failure, actor=actor, outcome=cancelled_by)
    return StageReport(True, final)


def _ending(
    deployment: Deployment, stage: Stage, status: StageStatus, reason: str | None, *, last: bool
) -> tuple[DeploymentStatus, str | None]:
    """How the deployment ends after this stage. A stage that succeeds after someone asked to cancel ends the
    deployment cancelled (unless it was the last: then there is nothing left to cancel); the cancellation's
    note ("cancelled by <@U…>") is kept as the reason."""
    if status is StageStatus.SUCCESS and last:
        return DeploymentStatus.SUCCESS, None
    final = FINAL_STAGE_STATUSES.get(status, DeploymentStatus.CANCELLED)
    if final is DeploymentStatus.CANCELLED and deployment.cancel_requested and deployment.status_reason:
        return final, deployment.status_reason
    return final, f"{stage.name}: {reason or status.value}"


def output_notification(deployment: Deployment, stage: Stage, channel: str, output: str) -> Notification:
    """The tail of a stage's output, as a reply in the deployment message's thread."""
    tail = output[-OUTPUT_TAIL:]
    return Notification(
        kind=OUTPUT_KIND,
        channel=channel,
        thread_key=f"deployment:{deployment.id}",
        data={
            "reference": deployment.reference,
            "stage": stage.name,
            "status": None,
            "tail": tail,
            "cut": len(output) > len(tail),
            "deployment_id": deployment.id,
            "position": stage.position,
        },
    )


async def finish_deployment(
    uow: UnitOfWork,
    deployment: Deployment,
    *,
    status: DeploymentStatus,
    now: datetime,
    reason: str | None,
    actor: Actor = RUNNER_ACTOR,
    tell_requester: bool = True,
    outcome: str | None = None,
) -> bool:
    """The one transition out of running; the message is updated and the requester told (``outcome``, when
    given, is what they are told instead of the status and its reason)."""
    assert deployment.id is not None
    moved = await uow.deployments.transition(
        deployment.id,
        from_statuses=[DeploymentStatus.RUNNING, DeploymentStatus.QUEUED],
        to_status=status,
        changes={"finished_at": now, "status_reason": reason},
    )
    if not moved:
        return False
    deployment.status = status
    deployment.finished_at = now
    await audit.record(
        uow,
        actor=actor,
        action=f"deployment.{status.value}",
        target=deployment.reference,
        now=now,
        request_id=None,
        details={"reason": reason} if reason else {},
    )
    service = await find_service(uow, deployment.service)
    await uow.outbox.add(status_notification(deployment, service))
    if tell_requester:
        words = {
            DeploymentStatus.SUCCESS: "deployed",
            DeploymentStatus.FAILED: "failed",
            DeploymentStatus.CANCELLED: "cancelled",
        }
        if outcome is not None:
            await uow.outbox.add(outcome_notification(deployment, outcome=outcome))
        else:
            await uow.outbox.add(
                outcome_notification(deployment, outcome=words.get(status, status.value), reason=reason)
            )
    return True


async def reconcile(uow: UnitOfWork, *, now: datetime, stale_after: timedelta) -> int:
    """Nothing stays active forever: a stage past its timeout fails; a command stage whose runner stopped
    beating (the bot was killed or restarted) fails with "interrupted by restart". Webhook stages keep
    waiting for CI's callback until their own timeout."""
    count = 0
    for stage in await uow.stages.running():
        reason = None
        if stage.deadline_at is not None and now >= stage.deadline_at:
            reason = f"timed out after {format_duration(stage.timeout_s)}"
        elif stage.executor == "command" and stage.heartbeat_at is not None and now - stage.heartbeat_at > stale_after:
            reason = "interrupted by restart"
        if reason is None:
            continue
        report = await report_stage(
            uow,
            deployment_id=stage.deployment_id,
            position=stage.position,
            status=StageStatus.FAILED,
            now=now,
            reason=reason,
        )
        count += int(report.changed)
    return count

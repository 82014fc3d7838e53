"""Cancelling a deployment.

Who: the person who requested it, or an admin (with the cancel permission). What happens depends on where the
deployment is:

- waiting for approval or queued: cancelled at once;
- running a command stage: ``cancel_requested`` is set in the store; the runner holding the process (on any
  replica) sees it, stops the process and reports the stage cancelled, which cancels the deployment;
- running a webhook stage: nothing runs here, so the deployment is cancelled at once; the stage stays running
  until a pipeline runner (any replica) claims it, ends it and tells CI (``claim_ci_cancellations``);
- between stages: cancelled at once (a deployment being cancelled starts no further stage).

Every step is a conditional update: a cancellation and the stage ending on its own race safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core import audit, pipeline
from core.deployments import find_deployment, find_environment, outcome_notification, status_notification
from core.errors import Conflict, PermissionDenied
from core.execution import StageRun
from core.model import Actor, Deployment, DeploymentStatus, Role, StageStatus
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import escape, mention

WAITING = [DeploymentStatus.PENDING_APPROVAL, DeploymentStatus.QUEUED]
WEBHOOK = "webhook"


@dataclass(frozen=True)
class CancelOutcome:
    deployment: Deployment
    immediate: bool  # False: the runner stops the running stage first, then the deployment is cancelled
    stage: str | None = None  # the stage being stopped


async def cancel_deployment(
    uow: UnitOfWork, *, actor: Actor, deployment_id: int, now: datetime, request_id: str | None
) -> CancelOutcome:
    """Cancel a deployment that has not finished (see the module for who may and what happens)."""
    require(actor, Permission.CANCEL)
    deployment = await find_deployment(uow, deployment_id)
    _refuse_finished(deployment)
    if actor.user_id != deployment.requested_by and actor.role is not Role.ADMIN:
        raise PermissionDenied(
            f"Only {mention(deployment.requested_by)}, who requested {deployment.reference}, or an admin can "
            "cancel it.",
            hint=f"Ask {mention(deployment.requested_by)} or an admin.",
        )
    note = f"cancelled by {mention(actor.user_id)}"
    if deployment.status in WAITING:
        moved = await uow.deployments.transition(
            deployment_id,
            from_statuses=WAITING,
            to_status=DeploymentStatus.CANCELLED,
            changes={"finished_at": now, "status_reason": note},
        )
        if moved:
            await _cancelled(uow, deployment, actor=actor, note=note, now=now, request_id=request_id)
            return CancelOutcome(deployment, immediate=True)
        deployment = await find_deployment(uow, deployment_id)  # approved (or decided) a moment ago
        _refuse_finished(deployment)
    return await _cancel_running(uow, deployment, actor=actor, note=note, now=now, request_id=request_id)


def _refuse_finished(deployment: Deployment) -> None:
    if deployment.is_active:
        return
    status = "deployed" if deployment.status is DeploymentStatus.SUCCESS else deployment.status.value.replace("_", " ")
    raise Conflict(
        f"{deployment.reference} is already {status}: only a deployment that is waiting, queued or running can be "
        "cancelled.",
        hint=(
            f"To undo it, roll back: `/release rollback {escape(deployment.service)} {escape(deployment.environment)}`."
            if deployment.status is DeploymentStatus.SUCCESS
            else None
        ),
    )


async def _cancel_running(
    uow: UnitOfWork, deployment: Deployment, *, actor: Actor, note: str, now: datetime, request_id: str | None
) -> CancelOutcome:
    assert deployment.id is not None
    if not await uow.deployments.request_cancel(deployment.id, note=note):
        current = await find_deployment(uow, deployment.id)
        if current.status is DeploymentStatus.RUNNING and current.cancel_requested:
            raise Conflict(f"{current.reference} is already being cancelled: its running stage is being stopped.")
        _refuse_finished(current)
        raise Conflict(f"{current.reference} changed a moment ago; nothing was cancelled.")
    deployment.cancel_requested = True
    deployment.status_reason = note
    await uow.stages.skip_pending(deployment.id)  # nothing further starts
    running = [s for s in await uow.stages.for_deployment(deployment.id) if s.status is StageStatus.RUNNING]
    stage = running[0] if running else None
    await audit.record(
        uow,
        actor=actor,
        action="deployment.cancel",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details={"status": "running", "stage": stage.name if stage else None},
    )
    if stage is not None and stage.executor != WEBHOOK:
        service = await find_service(uow, deployment.service)
        await uow.outbox.add(status_notification(deployment, service))
        return CancelOutcome(deployment, immediate=False, stage=stage.name)
    await pipeline.finish_deployment(
        uow,
        deployment,
        status=DeploymentStatus.CANCELLED,
        now=now,
        reason=note,
        actor=actor,
        outcome=note,
        tell_requester=actor.user_id != deployment.requested_by,
    )
    return CancelOutcome(deployment, immediate=True, stage=stage.name if stage else None)


async def _cancelled(
    uow: UnitOfWork, deployment: Deployment, *, actor: Actor, note: str, now: datetime, request_id: str | None
) -> None:
    previous = deployment.status
    deployment.status = DeploymentStatus.CANCELLED
    deployment.status_reason = note
    deployment.finished_at = now
    await audit.record(
        uow,
        actor=actor,
        action="deployment.cancel",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details={"status": previous.value},
    )
    service = await find_service(uow, deployment.service)
    await uow.outbox.add(status_notification(deployment, service))
    if actor.user_id != deployment.requested_by:
        await uow.outbox.add(outcome_notification(deployment, outcome=note))


async def claim_ci_cancellations(uow: UnitOfWork, *, now: datetime, callback_base_url: str | None) -> list[StageRun]:
    """Webhook stages still running in a deployment someone cancelled: each is ended (conditionally, so one
    runner wins it) and returned once, for that runner to tell CI to stop. The request lives in the store, so
    it is not lost whichever replica runs the pipeline, or when none runs at that moment."""
    runs = []
    for stage in await uow.stages.running():
        if stage.executor != WEBHOOK:
            continue
        deployment = await uow.deployments.get(stage.deployment_id)
        if deployment is None or not deployment.cancel_requested:
            continue
        reason = deployment.status_reason or "cancelled"
        if not await uow.stages.finish(
            stage.deployment_id,
            stage.position,
            status=StageStatus.CANCELLED,
            now=now,
            exit_code=None,
            reason=reason,
            output=None,
        ):
            continue
        await audit.record(
            uow,
            actor=pipeline.RUNNER_ACTOR,
            action="stage.cancelled",
            target=deployment.reference,
            now=now,
            request_id=None,
            details={"stage": stage.name, "position": stage.position, "reason": reason, "ci_told": True},
        )
        service = await find_service(uow, deployment.service)
        await uow.outbox.add(status_notification(deployment, service))
        environment = await find_environment(uow, deployment.environment)
        runs.append(
            pipeline.stage_run(
                deployment, stage, environment, attempt=stage.attempt or "", callback_base_url=callback_base_url
            )
        )
    return runs

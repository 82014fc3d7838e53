"""Approving and rejecting protected deployments, exactly once per person and per decision."""

from __future__ import annotations

from datetime import datetime

from core import audit, gates, pipeline
from core.deployment_views import SECOND_ADMIN, DeploymentView, describe_deployment
from core.deployments import (
    find_deployment,
    outcome_notification,
    status_notification,
)
from core.errors import Conflict, DuplicateRequest, Invalid, PermissionDenied
from core.model import ROLLBACK_KIND, Actor, Approval, ApprovalDecision, Deployment, DeploymentStatus, Role
from core.permissions import Permission, require
from core.policies import may_approve
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import MAX_TEXT, escape, slack_date

PENDING = [DeploymentStatus.PENDING_APPROVAL]


async def _pending_view(
    uow: UnitOfWork, deployment_id: int, *, now: datetime, actor: Actor, request_id: str | None
) -> DeploymentView:
    deployment = await find_deployment(uow, deployment_id)
    if deployment.status is not DeploymentStatus.PENDING_APPROVAL:
        raise Conflict(
            f"{deployment.reference} is not waiting for approval: it is {deployment.status.value.replace('_', ' ')}.",
            hint="`/release pending` lists what waits for you.",
        )
    if deployment.expires_at is not None and now >= deployment.expires_at:
        await expire(uow, deployment, now=now, actor=actor, request_id=request_id)
        raise Conflict(
            f"{deployment.reference} expired on {slack_date(deployment.expires_at)} without enough approvals.",
            hint=f"Request it again: `/release deploy {escape(deployment.service)} {escape(deployment.version)} "
            f"to {escape(deployment.environment)}`.",
        )
    view = await describe_deployment(uow, deployment_id)
    assert view is not None
    return view


def _check_approver(view: DeploymentView, actor: Actor, *, verb: str) -> str | None:
    """Returns the bypass this decision uses, if any; raises when the actor may not decide."""
    deployment = view.deployment
    if not may_approve(actor, view.environment):
        raise PermissionDenied(
            f"You can't {verb} {deployment.reference}: {escape(deployment.environment)} is approved by "
            f"{view.approvers_text}.",
            hint="Ask one of them to look at the card.",
        )
    if actor.user_id == deployment.requested_by and verb == "approve":
        if not view.environment.policy.self_approval:
            raise PermissionDenied(
                f"You requested {deployment.reference}, so you can't approve it yourself.",
                hint=f"Ask another approver: {view.approvers_text}.",
            )
        return "self_approval"
    if view.admin_approval_missing and actor.role is Role.ADMIN and verb == "approve":
        override = deployment.bypass("freeze") or {}
        if override.get("by") != actor.user_id:
            return SECOND_ADMIN
    return None


async def approve(
    uow: UnitOfWork, *, actor: Actor, deployment_id: int, now: datetime, request_id: str | None
) -> DeploymentView:
    """One approval per person; the last required approval starts the deployment, after locks, freezes and
    the one-active-deployment rule are checked again. The requester never approves their own deployment
    unless the policy allows it, which is then recorded as a bypass."""
    require(actor, Permission.APPROVE)
    view = await _pending_view(uow, deployment_id, now=now, actor=actor, request_id=request_id)
    bypass = _check_approver(view, actor, verb="approve")
    deployment = view.deployment
    try:
        await uow.approvals.add(Approval(deployment_id, actor.user_id, ApprovalDecision.APPROVED, now, bypass=bypass))
    except DuplicateRequest:
        raise Conflict(f"You already approved {deployment.reference}.") from None
    await audit.record(
        uow,
        actor=actor,
        action="deployment.approve",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details={"bypass": bypass} if bypass else {},
    )
    if bypass == "self_approval":
        await audit.record(
            uow,
            actor=actor,
            action="bypass.self_approval",
            target=deployment.reference,
            now=now,
            request_id=request_id,
            details={"environment": deployment.environment},
        )
    decided = await describe_deployment(uow, deployment_id)
    assert decided is not None
    if decided.approvals_needed == 0:
        await _start_approved(uow, decided, actor=actor, now=now, request_id=request_id)
    service = await find_service(uow, deployment.service)
    await uow.outbox.add(status_notification(deployment, service))
    refreshed = await describe_deployment(uow, deployment_id)
    assert refreshed is not None
    return refreshed


async def _start_approved(
    uow: UnitOfWork, view: DeploymentView, *, actor: Actor, now: datetime, request_id: str | None
) -> None:
    deployment = view.deployment
    assert deployment.id is not None
    service = await find_service(uow, deployment.service)
    try:
        await gates.check_lock_and_freeze(
            uow,
            actor_id=deployment.requested_by,
            service=service,
            environment=view.environment,
            now=now,
            # A rollback restores a version that ran there already: freezes do not stop it.
            freeze_overridden=deployment.bypass("freeze") is not None or deployment.kind == ROLLBACK_KIND,
        )
    except gates.Blocked as blocked:
        moved = await uow.deployments.transition(
            deployment.id,
            from_statuses=PENDING,
            to_status=DeploymentStatus.CANCELLED,
            changes={"finished_at": now, "status_reason": blocked.message},
        )
        if moved:
            await audit.record(
                uow,
                actor=actor,
                action="deployment.blocked",
                target=deployment.reference,
                now=now,
                request_id=request_id,
                details={"gate": blocked.kind, "reason": blocked.message},
            )
            await _tell_everyone(uow, view, outcome="blocked", reason=blocked.message)
        return
    moved = await uow.deployments.transition(
        deployment.id,
        from_statuses=PENDING,
        to_status=DeploymentStatus.RUNNING,
        changes={"approved_at": now, "started_at": now},
    )
    if not moved:
        return
    deployment.status = DeploymentStatus.RUNNING
    await audit.record(
        uow,
        actor=actor,
        action="deployment.approved",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details={"approvers": [a.approver for a in view.approvals]},
    )
    await pipeline.begin(uow, deployment, now=now, actor=actor)
    if deployment.status is DeploymentStatus.SUCCESS:
        await uow.outbox.add(outcome_notification(deployment, outcome="approved and deployed"))
    else:
        await uow.outbox.add(outcome_notification(deployment, outcome="approved; the pipeline is starting"))


async def _tell_everyone(uow: UnitOfWork, view: DeploymentView, *, outcome: str, reason: str) -> None:
    people = {view.deployment.requested_by, *(a.approver for a in view.approvals)}
    for person in sorted(people):
        note = outcome_notification(view.deployment, outcome=outcome, reason=reason)
        note.channel = person
        await uow.outbox.add(note)


async def reject(
    uow: UnitOfWork, *, actor: Actor, deployment_id: int, reason: str, now: datetime, request_id: str | None
) -> DeploymentView:
    """Any rejection by an approver vetoes the deployment; a reason is required."""
    require(actor, Permission.REJECT)
    reason = reason.strip()
    if not reason:
        raise Invalid("A rejection needs a reason.", hint=f"`/release reject D-{deployment_id} <reason>`")
    if len(reason) > MAX_TEXT:
        raise Invalid(f"The reason is {len(reason)} characters long; the limit is {MAX_TEXT}.")
    view = await _pending_view(uow, deployment_id, now=now, actor=actor, request_id=request_id)
    _check_approver(view, actor, verb="reject")
    deployment = view.deployment
    try:
        await uow.approvals.add(Approval(deployment_id, actor.user_id, ApprovalDecision.REJECTED, now, reason=reason))
    except DuplicateRequest:
        raise Conflict(f"You already decided on {deployment.reference}.") from None
    moved = await uow.deployments.transition(
        deployment_id,
        from_statuses=PENDING,
        to_status=DeploymentStatus.REJECTED,
        changes={"finished_at": now, "status_reason": reason},
    )
    if not moved:
        raise Conflict(f"{deployment.reference} was decided a moment ago; nothing changed.")
    await audit.record(
        uow,
        actor=actor,
        action="deployment.reject",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details={"reason": reason},
    )
    service = await find_service(uow, deployment.service)
    await uow.outbox.add(status_notification(deployment, service))
    await uow.outbox.add(outcome_notification(deployment, outcome=f"rejected by <@{actor.user_id}>", reason=reason))
    refreshed = await describe_deployment(uow, deployment_id)
    assert refreshed is not None
    return refreshed


async def expire(
    uow: UnitOfWork, deployment: Deployment, *, now: datetime, actor: Actor, request_id: str | None
) -> bool:
    """A pending deployment past its expiry is expired exactly once; its card and requester are told."""
    assert deployment.id is not None
    moved = await uow.deployments.transition(
        deployment.id,
        from_statuses=PENDING,
        to_status=DeploymentStatus.EXPIRED,
        changes={"finished_at": now, "status_reason": "approvals expired"},
    )
    if moved:
        await audit.record(
            uow,
            actor=actor,
            action="deployment.expire",
            target=deployment.reference,
            now=now,
            request_id=request_id,
            details={},
        )
        service = await find_service(uow, deployment.service)
        await uow.outbox.add(status_notification(deployment, service))
        await uow.outbox.add(outcome_notification(deployment, outcome="expired without enough approvals"))
    return moved


async def expire_due(uow: UnitOfWork, *, now: datetime, actor: Actor) -> int:
    """Expire every pending deployment whose approval window has passed."""
    count = 0
    for deployment in await uow.deployments.active_list():
        if (
            deployment.status is DeploymentStatus.PENDING_APPROVAL
            and deployment.expires_at
            and (now >= deployment.expires_at)
        ):
            count += await expire(uow, deployment, now=now, actor=actor, request_id=None)
    return count


async def pending_for(uow: UnitOfWork, *, actor: Actor, now: datetime) -> list[DeploymentView]:
    """Deployments waiting for approval that this person may approve and has not decided on yet."""
    require(actor, Permission.VIEW)
    views = []
    for deployment in await uow.deployments.active_list():
        if deployment.status is not DeploymentStatus.PENDING_APPROVAL or deployment.id is None:
            continue
        if deployment.expires_at and now >= deployment.expires_at:
            continue
        view = await describe_deployment(uow, deployment.id)
        if view is None or not may_approve(actor, view.environment):
            continue
        if actor.user_id == deployment.requested_by and not view.environment.policy.self_approval:
            continue
        if any(a.approver == actor.user_id for a in view.approvals):
            continue
        views.append(view)
    return views

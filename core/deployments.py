"""Deployment use cases: request a deployment of a release to an environment, and start it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core import audit, gates
from core.errors import Conflict, NotFound, PermissionDenied
from core.model import (
    DEPLOY_KIND,
    Actor,
    Deployment,
    DeploymentStatus,
    Environment,
    Notification,
    Release,
    Role,
    Service,
)
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import escape

STATUS_KIND = "deployment.status"
OUTCOME_KIND = "deployment.outcome"


async def find_environment(uow: UnitOfWork, name: str) -> Environment:
    environment = await uow.environments.get(name)
    if environment is None:
        known = ", ".join(f"`{escape(e.name)}`" for e in await uow.environments.list()) or "none yet"
        raise NotFound(
            f"There is no environment `{escape(name)}`.",
            hint=f"Environments: {known}. An admin adds one with `/release env add <name>`.",
        )
    return environment


async def find_release(uow: UnitOfWork, service: Service, version: str) -> Release:
    release = await uow.releases.get(service.name, version)
    if release is None:
        raise NotFound(
            f"`{escape(service.name)}` has no release `{escape(version)}`.",
            hint=f"Create it first: `/release create {escape(service.name)} {escape(version)} commit <sha>`.",
        )
    return release


async def find_deployment(uow: UnitOfWork, deployment_id: int) -> Deployment:
    deployment = await uow.deployments.get(deployment_id)
    if deployment is None:
        raise NotFound(
            f"There is no deployment D-{deployment_id}.",
            hint="`/release pending` lists what waits for you; `/release status` shows what runs where.",
        )
    return deployment


def describe_active(active: Deployment) -> str:
    return (
        f"{active.reference} ({escape(active.service)} `{escape(active.version)}`, requested by "
        f"<@{active.requested_by}>, {active.status.value.replace('_', ' ')})"
    )


def status_notification(deployment: Deployment, service: Service) -> Notification:
    """The one evolving message of a deployment in its service's channel, rendered from the store."""
    return Notification(
        kind=STATUS_KIND,
        channel=service.slack_channel,
        message_key=f"deployment:{deployment.id}",
        data={"deployment_id": deployment.id},
    )


def outcome_notification(deployment: Deployment, *, outcome: str, reason: str | None = None) -> Notification:
    """A direct message to the requester with what happened to their deployment."""
    return Notification(
        kind=OUTCOME_KIND,
        channel=deployment.requested_by,
        data={
            "reference": deployment.reference,
            "service": deployment.service,
            "version": deployment.version,
            "environment": deployment.environment,
            "outcome": outcome,
            "reason": reason,
        },
    )


@dataclass(frozen=True)
class DeploymentOutcome:
    deployment: Deployment
    previous_version: str | None


async def _check_request(
    uow: UnitOfWork,
    *,
    actor: Actor,
    service: Service,
    env: Environment,
    release: Release,
    now: datetime,
    override_freeze: str | None,
) -> None:
    await gates.check_promotion(uow, service=service, release=release, environment=env)
    active = await uow.deployments.active(service.name, env.name)
    if active is not None:
        raise Conflict(
            f"{escape(service.name)} already has an active deployment to {escape(env.name)}: {describe_active(active)}.",
            hint="Wait for it to finish, then try again. `/release status` shows where things stand.",
        )
    if override_freeze is not None and actor.role is not Role.ADMIN:
        raise PermissionDenied(
            "Only admins may override a freeze.", hint="Ask an admin, or wait for the freeze to end."
        )
    await gates.check_lock_and_freeze(
        uow,
        actor_id=actor.user_id,
        service=service,
        environment=env,
        now=now,
        freeze_overridden=override_freeze is not None,
    )


async def request_deployment(
    uow: UnitOfWork,
    *,
    actor: Actor,
    service: str,
    version: str,
    environment: str,
    now: datetime,
    request_id: str | None,
    override_freeze: str | None = None,
    override_bad: str | None = None,
) -> DeploymentOutcome:
    """Request a deployment of a release to an environment.

    Rules: the actor may deploy (production needs the production permission); the service, environment and
    release exist; a release marked bad by a rollback is deployed only with ``override_bad`` (a reason, recorded
    as a bypass); the promotion order holds; only one deployment per service and environment is active at a
    time (the database enforces it too); no lock held by someone else and no freeze (an admin may override a
    freeze with a reason; a second admin must then approve). A protected environment waits for approvals;
    otherwise the deployment starts at once.
    """
    require(actor, Permission.DEPLOY)
    env = await find_environment(uow, environment)
    if env.is_production:
        require(actor, Permission.DEPLOY_PRODUCTION)
    svc = await find_service(uow, service)
    release = await find_release(uow, svc, version)
    bad_release = await gates.check_bad_release(
        uow, actor=actor, service=svc, release=release, environment=env, override=override_bad
    )
    await _check_request(
        uow, actor=actor, service=svc, env=env, release=release, now=now, override_freeze=override_freeze
    )
    freeze = await _freeze_bypass(uow, actor=actor, env=env, now=now, reason=override_freeze)
    return await open_deployment(
        uow,
        actor=actor,
        service=svc,
        environment=env,
        release=release,
        now=now,
        request_id=request_id,
        bypasses=[bypass for bypass in (freeze, bad_release) if bypass is not None],
    )


async def _freeze_bypass(
    uow: UnitOfWork, *, actor: Actor, env: Environment, now: datetime, reason: str | None
) -> dict[str, Any] | None:
    if reason is None:
        return None
    window = await gates.current_freeze(uow, environment=env.name, now=now)
    if window is None:
        return None
    return {
        "kind": "freeze",
        "by": actor.user_id,
        "reason": reason,
        "freeze": window.freeze.reference,
        "needs_second_admin": True,
    }


async def open_deployment(
    uow: UnitOfWork,
    *,
    actor: Actor,
    service: Service,
    environment: Environment,
    release: Release,
    now: datetime,
    request_id: str | None,
    bypasses: list[dict[str, Any]],
    kind: str = DEPLOY_KIND,
    rollback_of: Deployment | None = None,
) -> DeploymentOutcome:
    """Record a requested deployment (a deploy, or the one a rollback makes) whose gates the caller checked, and
    start its pipeline, or leave it waiting for approvals: the environment's ``approvals`` for a deploy, its
    ``rollback_approvals`` for a rollback, and a second admin's after a freeze override."""
    env = environment
    current = {d.environment: d for d in await uow.deployments.current_versions(service.name)}.get(env.name)
    required = env.policy.approvals_for(kind)
    needs_approval = required > 0 or any(bypass.get("needs_second_admin") for bypass in bypasses)
    deployment = Deployment(
        service=service.name,
        version=release.version,
        environment=env.name,
        status=DeploymentStatus.PENDING_APPROVAL if needs_approval else DeploymentStatus.RUNNING,
        requested_by=actor.user_id,
        requested_at=now,
        team=service.team,
        release_id=release.id,
        commit_sha=release.commit_sha,
        started_at=None if needs_approval else now,
        idempotency_key=f"{actor.source.value}:{request_id}" if request_id else None,
        expires_at=now + timedelta(seconds=env.policy.expire_s) if needs_approval else None,
        kind=kind,
        bypasses=bypasses,
        rollback_of_id=rollback_of.id if rollback_of is not None else None,
    )
    deployment = await uow.deployments.add(deployment)
    await _record_request(
        uow, actor, deployment, required=required, rollback_of=rollback_of, now=now, request_id=request_id
    )
    if not needs_approval:
        from core import pipeline

        await pipeline.begin(uow, deployment, now=now, actor=actor)
    await uow.outbox.add(status_notification(deployment, service))
    if needs_approval:
        from core.notify_prefs import ask_approvers

        await ask_approvers(uow, deployment, env)
    return DeploymentOutcome(deployment, current.version if current else None)


async def _record_request(
    uow: UnitOfWork,
    actor: Actor,
    deployment: Deployment,
    *,
    required: int,
    rollback_of: Deployment | None,
    now: datetime,
    request_id: str | None,
) -> None:
    details: dict[str, Any] = {
        "service": deployment.service,
        "version": deployment.version,
        "environment": deployment.environment,
        "approvals_required": required,
        "bypasses": deployment.bypasses,
    }
    if rollback_of is not None:
        details |= {"kind": deployment.kind, "rollback_of": rollback_of.reference}
    target = deployment.reference
    await audit.record(
        uow, actor=actor, action="deployment.request", target=target, now=now, request_id=request_id, details=details
    )
    for bypass in deployment.bypasses:
        await audit.record(
            uow,
            actor=actor,
            action=f"bypass.{bypass['kind']}",
            target=target,
            now=now,
            request_id=request_id,
            details=bypass,
        )

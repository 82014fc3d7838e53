"""Deployment use cases: request a deployment of a release to an environment, and start it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core import audit, gates
from core.errors import Conflict, Invalid, NotFound, PermissionDenied
from core.model import (
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
    if env.stages:
        raise Invalid(
            f"`{escape(env.name)}` has {len(env.stages)} pipeline stage(s), and pipelines are not run by this "
            "version of the bot.",
            hint="Ask an admin to remove the stages from the environment, or deploy to another environment.",
        )
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
) -> DeploymentOutcome:
    """Request a deployment of a release to an environment.

    Rules: the actor may deploy (production needs the production permission); the service, environment and
    release exist; the promotion order holds; only one deployment per service and environment is active at a
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
    await _check_request(
        uow, actor=actor, service=svc, env=env, release=release, now=now, override_freeze=override_freeze
    )
    bypasses = []
    if override_freeze is not None:
        window = await gates.current_freeze(uow, environment=env.name, now=now)
        if window is not None:
            bypasses.append(
                {
                    "kind": "freeze",
                    "by": actor.user_id,
                    "reason": override_freeze,
                    "freeze": window.freeze.reference,
                    "needs_second_admin": True,
                }
            )
    current = {d.environment: d for d in await uow.deployments.current_versions(svc.name)}.get(env.name)
    needs_approval = env.policy.approvals > 0 or bool(bypasses)
    deployment = await uow.deployments.add(
        Deployment(
            service=svc.name,
            version=release.version,
            environment=env.name,
            status=DeploymentStatus.PENDING_APPROVAL if needs_approval else DeploymentStatus.RUNNING,
            requested_by=actor.user_id,
            requested_at=now,
            team=svc.team,
            release_id=release.id,
            commit_sha=release.commit_sha,
            started_at=None if needs_approval else now,
            idempotency_key=f"{actor.source.value}:{request_id}" if request_id else None,
            expires_at=now + timedelta(seconds=env.policy.expire_s) if needs_approval else None,
            bypasses=bypasses,
        )
    )
    await audit.record(
        uow,
        actor=actor,
        action="deployment.request",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details={
            "service": svc.name,
            "version": release.version,
            "environment": env.name,
            "approvals_required": env.policy.approvals,
            "bypasses": bypasses,
        },
    )
    if bypasses:
        await audit.record(
            uow,
            actor=actor,
            action="bypass.freeze",
            target=deployment.reference,
            now=now,
            request_id=request_id,
            details=bypasses[0],
        )
    if not needs_approval:
        await complete_without_stages(uow, deployment, actor=actor, now=now, request_id=request_id)
    await uow.outbox.add(status_notification(deployment, svc))
    return DeploymentOutcome(deployment, current.version if current else None)


async def complete_without_stages(
    uow: UnitOfWork, deployment: Deployment, *, actor: Actor, now: datetime, request_id: str | None
) -> None:
    """An environment without pipeline stages has nothing to run: the deployment succeeds at once."""
    assert deployment.id is not None
    moved = await uow.deployments.transition(
        deployment.id,
        from_statuses=[DeploymentStatus.RUNNING, DeploymentStatus.QUEUED],
        to_status=DeploymentStatus.SUCCESS,
        changes={"finished_at": now},
    )
    if moved:
        deployment.status = DeploymentStatus.SUCCESS
        deployment.finished_at = now
        await audit.record(
            uow,
            actor=actor,
            action="deployment.success",
            target=deployment.reference,
            now=now,
            request_id=request_id,
            details={"stages": 0},
        )

"""Deployment use cases: request a deployment of a release to an environment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core import audit
from core.errors import Conflict, Invalid, NotFound
from core.model import Actor, Deployment, DeploymentStatus, Environment, Notification, Release, Service
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import escape


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


def describe_active(active: Deployment) -> str:
    return (
        f"{active.reference} ({escape(active.service)} `{escape(active.version)}`, requested by "
        f"<@{active.requested_by}>, {active.status.value.replace('_', ' ')})"
    )


@dataclass(frozen=True)
class DeploymentOutcome:
    deployment: Deployment
    previous_version: str | None


async def request_deployment(
    uow: UnitOfWork,
    *,
    actor: Actor,
    service: str,
    version: str,
    environment: str,
    now: datetime,
    request_id: str | None,
) -> DeploymentOutcome:
    """Deploy a release to an environment.

    Rules: the actor may deploy (production needs the production permission); the service, environment and
    release exist; only one deployment per service and environment is active at a time (the database
    enforces it too). An environment that needs no approval and has no pipeline stages completes at once.
    """
    require(actor, Permission.DEPLOY)
    env = await find_environment(uow, environment)
    if env.is_production:
        require(actor, Permission.DEPLOY_PRODUCTION)
    svc = await find_service(uow, service)
    release = await find_release(uow, svc, version)
    if env.policy.approvals > 0 or env.stages:
        needs = []
        if env.policy.approvals > 0:
            needs.append(f"{env.policy.approvals} approval(s)")
        if env.stages:
            needs.append(f"{len(env.stages)} pipeline stage(s)")
        raise Invalid(
            f"`{escape(env.name)}` is configured with {' and '.join(needs)}; this bot only runs "
            "deployments to environments without approvals or stages.",
            hint="Ask an admin to remove the policy or stages from the configuration, or deploy to another "
            "environment.",
        )
    active = await uow.deployments.active(svc.name, env.name)
    if active is not None:
        raise Conflict(
            f"{escape(svc.name)} already has an active deployment to {escape(env.name)}: {describe_active(active)}.",
            hint="Wait for it to finish, then try again. `/release status` shows where things stand.",
        )
    current = {d.environment: d for d in await uow.deployments.current_versions(svc.name)}.get(env.name)
    deployment = await uow.deployments.add(
        Deployment(
            service=svc.name,
            version=release.version,
            environment=env.name,
            status=DeploymentStatus.RUNNING,
            requested_by=actor.user_id,
            requested_at=now,
            team=svc.team,
            release_id=release.id,
            commit_sha=release.commit_sha,
            started_at=now,
            idempotency_key=f"{actor.source.value}:{request_id}" if request_id else None,
        )
    )
    await audit.record(
        uow,
        actor=actor,
        action="deployment.request",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details={"service": svc.name, "version": release.version, "environment": env.name},
    )
    assert deployment.id is not None
    moved = await uow.deployments.transition(
        deployment.id,
        from_statuses=[DeploymentStatus.RUNNING],
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
    previous = current.version if current else None
    await uow.outbox.add(
        Notification(
            kind="deployment.status",
            channel=svc.slack_channel,
            message_key=f"deployment:{deployment.id}",
            data={
                "reference": deployment.reference,
                "service": svc.name,
                "version": release.version,
                "previous_version": previous,
                "environment": env.name,
                "production": env.is_production,
                "status": deployment.status.value,
                "requested_by": actor.user_id,
                "commit": release.commit_sha,
                "notes": release.notes,
                "started_at": now.isoformat(),
                "finished_at": now.isoformat(),
            },
        )
    )
    return DeploymentOutcome(deployment, previous)


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    current: dict[str, Deployment]
    active: dict[str, Deployment]


async def status(
    uow: UnitOfWork, *, actor: Actor, service: str | None
) -> tuple[list[Environment], list[ServiceStatus]]:
    """The version running in each environment, per service, and any deployment in progress."""
    require(actor, Permission.VIEW)
    environments = sorted(await uow.environments.list(), key=lambda e: (e.order, e.name))
    services = [await find_service(uow, service)] if service else [s for s in await uow.services.list() if s.active]
    current = await uow.deployments.current_versions(service)
    active = await uow.deployments.active_list(service)
    result = [
        ServiceStatus(
            svc,
            {d.environment: d for d in current if d.service == svc.name},
            {d.environment: d for d in active if d.service == svc.name},
        )
        for svc in sorted(services, key=lambda s: s.name)
    ]
    return environments, result

"""Incidents attributed to production deployments, for the DORA change failure rate and time to restore.

An incident is attributed to a production deployment that succeeded (and may have been rolled back since),
opened at the moment it is reported; a deployment has at most one (the database enforces it too). It is
resolved later, never before it was opened, exactly once. Both steps are audited and announced briefly in the
service's channel.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core import audit
from core.deployments import find_deployment, find_environment
from core.errors import Conflict, NotFound
from core.model import Actor, Deployment, DeploymentStatus, Incident, Notification
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import escape, mention, slack_date

NOTICE = "incident.notice"


def _succeeded(deployment: Deployment) -> bool:
    """Success, or rolled back after succeeding (a failed deployment keeps its failure as its reason)."""
    if deployment.status is DeploymentStatus.SUCCESS:
        return True
    return deployment.status is DeploymentStatus.ROLLED_BACK and deployment.status_reason is None


def _already(incident: Incident, deployment: Deployment) -> Conflict:
    note = f": {escape(incident.note)}" if incident.note else ""
    state = f", resolved on {slack_date(incident.resolved_at)}" if incident.resolved_at else ", still open"
    return Conflict(
        f"{deployment.reference} already has an incident, opened by {mention(incident.opened_by)} on "
        f"{slack_date(incident.opened_at)}{state}{note}.",
        hint=f"One incident per deployment. `/release incident resolve {deployment.reference}` resolves it.",
    )


async def open_incident(
    uow: UnitOfWork, *, actor: Actor, deployment_id: int, note: str | None, now: datetime, request_id: str | None
) -> tuple[Incident, Deployment]:
    """Attribute an incident, opened now, to a production deployment that succeeded; one per deployment."""
    require(actor, Permission.REPORT_INCIDENT)
    deployment = await find_deployment(uow, deployment_id)
    environment = await find_environment(uow, deployment.environment)
    if not environment.is_production:
        raise Conflict(
            f"{deployment.reference} went to {escape(environment.name)}, which is not production: incidents are "
            "attributed to production deployments."
        )
    if not _succeeded(deployment):
        raise Conflict(
            f"{deployment.reference} is {deployment.status.value.replace('_', ' ')}: an incident is attributed to a "
            "deployment that succeeded.",
            hint="`/release status` shows what runs in production.",
        )
    existing = await uow.incidents.for_deployment(deployment_id)
    if existing is not None:
        raise _already(existing, deployment)
    try:
        incident = await uow.incidents.add(Incident(deployment_id, now, actor.user_id, note=note))
    except Conflict:
        winner = await uow.incidents.for_deployment(deployment_id)
        if winner is None:
            raise
        raise _already(winner, deployment) from None
    details = _data(deployment, incident, event="opened")
    await audit.record(
        uow,
        actor=actor,
        action="incident.open",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details=details,
    )
    await _announce(uow, deployment, details | {"by": actor.user_id})
    return incident, deployment


async def resolve_incident(
    uow: UnitOfWork, *, actor: Actor, deployment_id: int, now: datetime, request_id: str | None
) -> tuple[Incident, Deployment]:
    """Resolve the incident attributed to a deployment, once, and not before it was opened."""
    require(actor, Permission.REPORT_INCIDENT)
    deployment = await find_deployment(uow, deployment_id)
    incident = await uow.incidents.for_deployment(deployment_id)
    if incident is None:
        raise NotFound(
            f"{deployment.reference} has no incident.",
            hint=f"`/release incident {deployment.reference} [note]` attributes one to it.",
        )
    if incident.resolved_at is None and now < incident.opened_at:
        raise Conflict(
            f"The incident on {deployment.reference} was opened on {slack_date(incident.opened_at)}: it can't be "
            "resolved before that."
        )
    if incident.resolved_at is not None or not await uow.incidents.resolve(deployment_id, by=actor.user_id, now=now):
        resolved = await uow.incidents.for_deployment(deployment_id) or incident
        by = f" by {mention(resolved.resolved_by)}" if resolved.resolved_by else ""
        when = f" on {slack_date(resolved.resolved_at)}" if resolved.resolved_at else ""
        raise Conflict(f"The incident on {deployment.reference} was already resolved{by}{when}.")
    incident.resolved_at, incident.resolved_by = now, actor.user_id
    details = _data(deployment, incident, event="resolved")
    await audit.record(
        uow,
        actor=actor,
        action="incident.resolve",
        target=deployment.reference,
        now=now,
        request_id=request_id,
        details=details,
    )
    await _announce(uow, deployment, details | {"by": actor.user_id})
    return incident, deployment


def _data(deployment: Deployment, incident: Incident, *, event: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event": event,
        "reference": deployment.reference,
        "service": deployment.service,
        "version": deployment.version,
        "environment": deployment.environment,
        "note": incident.note,
        "opened_at": incident.opened_at.isoformat(),
    }
    if incident.resolved_at is not None:
        data["resolved_at"] = incident.resolved_at.isoformat()
        data["restored_s"] = int((incident.resolved_at - incident.opened_at).total_seconds())
    return data


async def _announce(uow: UnitOfWork, deployment: Deployment, data: dict[str, Any]) -> None:
    service = await find_service(uow, deployment.service)
    await uow.outbox.add(Notification(kind=NOTICE, channel=service.slack_channel, data=data))

"""Notification preferences: what each service's channel receives, and which direct messages a person gets.

A service's channel gets ``everything`` (the default), ``approvals-and-failures`` (the approval card, failed
deployments with their failing stage's output, and incidents; no progress or success posts, no lock or
freeze notices) or ``digest-only`` (only the weekly digest). The level decides whether a message is
*posted*: a message already in the channel is still updated in place, so that a card never shows a stale
state or a live button. A person may turn off the direct messages about how their deployments ended
(``deploy-finished``, on by default) and ask for one each time they are asked to approve a deployment
(``approval-requests``, off by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from core import audit, freezes, incidents, locks, pipeline
from core.deployments import OUTCOME_KIND, STATUS_KIND
from core.errors import PermissionDenied
from core.model import (
    Actor,
    Deployment,
    DeploymentStatus,
    Environment,
    Notification,
    NotifyLevel,
    Role,
    Service,
    StageStatus,
    User,
)
from core.permissions import Permission, require
from core.policies import may_approve
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import escape

DEPLOY_FINISHED = "deploy-finished"
APPROVAL_REQUESTS = "approval-requests"
PREF_DEFAULTS: Mapping[str, bool] = {DEPLOY_FINISHED: True, APPROVAL_REQUESTS: False}
PREF_MEANING: Mapping[str, str] = {
    DEPLOY_FINISHED: "how your deployments ended",
    APPROVAL_REQUESTS: "each deployment you are asked to approve",
}
APPROVAL_REQUEST_KIND = "approval.request"  # a direct message to an approver who asked for them
DIGEST_KIND_PREFIX = "digest"  # the weekly digest, whatever the level
# From the most to the least talkative: a channel shared by services posts at its most talkative level.
LEVELS = (NotifyLevel.EVERYTHING, NotifyLevel.APPROVALS_AND_FAILURES, NotifyLevel.DIGEST_ONLY)
LEVEL_MEANING: Mapping[NotifyLevel, str] = {
    NotifyLevel.EVERYTHING: "every post",
    NotifyLevel.APPROVALS_AND_FAILURES: "approval cards, failures and incidents",
    NotifyLevel.DIGEST_ONLY: "the weekly digest only",
}
_POSTED_AT_LEVEL = {DeploymentStatus.PENDING_APPROVAL, DeploymentStatus.FAILED}


def prefs_of(user: User | None) -> dict[str, bool]:
    """The person's direct-message preferences, defaults filled in."""
    stored = user.notify_prefs if user is not None else {}
    return {key: bool(stored.get(key, default)) for key, default in PREF_DEFAULTS.items()}


def level_of(service: Service) -> NotifyLevel:
    return service.notify_level or NotifyLevel.EVERYTHING


@dataclass(frozen=True)
class NotifySettings:
    """What ``/release notify`` shows: the person's direct messages, and the channels of their team's services
    (every service for admins and for people in no team: then ``team`` is None)."""

    prefs: dict[str, bool]
    team: str | None
    services: list[Service]


async def settings_for(uow: UnitOfWork, *, actor: Actor) -> NotifySettings:
    require(actor, Permission.VIEW)
    user = await uow.users.get(actor.user_id)
    team = user.team if user is not None else None
    services = [s for s in await uow.services.list() if s.active]
    if team is None or actor.role is Role.ADMIN:
        return NotifySettings(prefs_of(user), None, sorted(services, key=lambda s: s.name))
    return NotifySettings(prefs_of(user), team, sorted((s for s in services if s.team == team), key=lambda s: s.name))


async def set_service_level(
    uow: UnitOfWork,
    *,
    actor: Actor,
    service: str,
    level: NotifyLevel,
    now: datetime,
    request_id: str | None,
) -> tuple[Service, NotifyLevel, bool]:
    """Admins, and developers of the service's own team, choose what its channel receives. Returns the
    service, its level before, and whether anything changed (a change is audited)."""
    found = await find_service(uow, service)
    if actor.role is not Role.ADMIN:
        require(actor, Permission.DEPLOY)
        user = await uow.users.get(actor.user_id)
        if user is None or user.team != found.team:
            raise PermissionDenied(
                f"You can't change what {escape(found.name)}'s channel receives: only admins and developers of "
                f"team {escape(found.team)} may.",
                hint=f"Ask a developer of team {escape(found.team)} or an admin to change it.",
            )
    before = level_of(found)
    found.notify_level = level
    changed = await uow.services.upsert(found, now=now)
    if changed:
        await audit.record(
            uow,
            actor=actor,
            action="notify.service",
            target=f"service:{found.name}",
            now=now,
            request_id=request_id,
            details={"level": level.value, "before": before.value},
        )
    return found, before, changed


async def set_my_pref(
    uow: UnitOfWork,
    *,
    actor: Actor,
    pref: str,
    on: bool,
    role_if_new: Role,
    now: datetime,
    request_id: str | None,
) -> bool:
    """Anyone turns their own direct messages on or off; a change is audited. Someone the bot does not know yet
    is recorded with ``role_if_new`` (the default role), never with a role they hold only by configuration."""
    require(actor, Permission.VIEW)
    if pref not in PREF_DEFAULTS:
        raise ValueError(pref)
    user = await uow.users.get(actor.user_id)
    prefs = {**(user.notify_prefs if user is not None else {}), pref: on}
    changed = await uow.users.set_notify_prefs(actor.user_id, prefs, now=now, role_if_new=role_if_new)
    if changed:
        await audit.record(
            uow,
            actor=actor,
            action="notify.me",
            target=f"user:{actor.user_id}",
            now=now,
            request_id=request_id,
            details={"preference": pref, "on": on},
        )
    return changed


async def ask_approvers(uow: UnitOfWork, deployment: Deployment, environment: Environment) -> list[str]:
    """A deployment that waits for approval is sent, as a direct message, to each person who asked for approval
    requests and may approve it (never to its requester unless the policy allows self-approval)."""
    asked = []
    for user in await uow.users.list():
        if not prefs_of(user)[APPROVAL_REQUESTS]:
            continue
        if not may_approve(Actor(user.slack_user_id, user.role), environment):
            continue
        if user.slack_user_id == deployment.requested_by and not environment.policy.self_approval:
            continue
        await uow.outbox.add(
            Notification(
                kind=APPROVAL_REQUEST_KIND,
                channel=user.slack_user_id,
                data={"deployment_id": deployment.id, "reference": deployment.reference},
            )
        )
        asked.append(user.slack_user_id)
    return asked


async def withheld(uow: UnitOfWork, notification: Notification) -> str | None:
    """Why the preferences leave this notification out (None: send it), decided when it is about to be sent."""
    kind = notification.kind
    if kind.startswith(DIGEST_KIND_PREFIX):
        return None
    if kind == OUTCOME_KIND:
        return await _direct_off(uow, notification.channel, DEPLOY_FINISHED)
    if kind == APPROVAL_REQUEST_KIND:
        deployment = await uow.deployments.get(int(notification.data["deployment_id"]))
        if deployment is None or deployment.status is not DeploymentStatus.PENDING_APPROVAL:
            return "decided before the request was sent"
        return await _direct_off(uow, notification.channel, APPROVAL_REQUESTS)
    if kind == STATUS_KIND:
        return await _deployment_post(uow, notification)
    if kind == pipeline.OUTPUT_KIND:
        return await _stage_output(uow, notification)
    if kind == incidents.NOTICE:
        level = await _service_level(uow, str(notification.data.get("service", "")))
        return _reason(level) if level is NotifyLevel.DIGEST_ONLY else None
    if kind in (locks.NOTICE, freezes.NOTICE):
        level = await _channel_level(uow, notification.channel)
        return _reason(level) if level is not NotifyLevel.EVERYTHING else None
    return None


def _reason(level: NotifyLevel) -> str:
    return f"channel notifications: {level.value}"


async def _direct_off(uow: UnitOfWork, person: str, pref: str) -> str | None:
    if prefs_of(await uow.users.get(person))[pref]:
        return None
    return f"{pref} turned off"


async def _service_level(uow: UnitOfWork, name: str) -> NotifyLevel:
    service = await uow.services.get(name)
    return level_of(service) if service is not None else NotifyLevel.EVERYTHING


async def _channel_level(uow: UnitOfWork, channel: str) -> NotifyLevel:
    """The most talkative level of the services that post in the channel (directly, or as their team's)."""
    teams = {team.name for team in await uow.teams.list() if team.slack_channel == channel}
    levels = [
        level_of(s) for s in await uow.services.list() if s.active and (s.slack_channel == channel or s.team in teams)
    ]
    return min(levels, key=LEVELS.index) if levels else NotifyLevel.EVERYTHING


async def _deployment_post(uow: UnitOfWork, notification: Notification) -> str | None:
    if notification.message_key and await uow.outbox.message(notification.message_key) is not None:
        return None  # updated in place: the card in the channel stays true
    deployment = await uow.deployments.get(int(notification.data["deployment_id"]))
    if deployment is None:
        return None
    level = await _service_level(uow, deployment.service)
    if level is NotifyLevel.EVERYTHING:
        return None
    if level is NotifyLevel.APPROVALS_AND_FAILURES and deployment.status in _POSTED_AT_LEVEL:
        return None
    return _reason(level)


async def _stage_output(uow: UnitOfWork, notification: Notification) -> str | None:
    deployment_id = notification.data.get("deployment_id")
    deployment = await uow.deployments.get(int(deployment_id)) if deployment_id is not None else None
    if deployment is None:
        return None
    level = await _service_level(uow, deployment.service)
    if level is NotifyLevel.EVERYTHING:
        return None
    if level is NotifyLevel.APPROVALS_AND_FAILURES:
        stages = await uow.stages.for_deployment(deployment.id or 0)
        position = int(notification.data.get("position", -1))
        if any(s.position == position and s.status is StageStatus.FAILED for s in stages):
            return None
    return _reason(level)

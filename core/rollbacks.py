"""Rollbacks: put the last good version of a service back in an environment, mark the bad release, and hold
the environment for that service until someone unlocks it.

What is rolled back is the latest deployment there that succeeded or failed (or, from a failed deployment's
button, that one, as long as it is still the latest). The target is the newest deployment there before it
that succeeded, of another version, whose release is not marked bad; ``to <version>`` names the target
instead, and that version must have succeeded there. A rollback of a rollback is computed the same way.

Exactly once: the rolled-back deployment moves ``success|failed -> rolled_back`` conditionally, and the new
deployment is subject to the one-active-deployment index, so two rollbacks racing give one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import audit, gates, locks
from core.deployments import (
    describe_active,
    find_deployment,
    find_environment,
    find_release,
    open_deployment,
    outcome_notification,
    status_notification,
)
from core.errors import Conflict, NotFound
from core.model import (
    ROLLBACK_KIND,
    Actor,
    Deployment,
    DeploymentStatus,
    Environment,
    Lock,
    Release,
    ReleaseStatus,
    Rollback,
    Service,
)
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import escape

HISTORY = 1000  # deployments of one service to one environment looked back through
ROLLED_BACK_FROM = (DeploymentStatus.SUCCESS, DeploymentStatus.FAILED)


@dataclass(frozen=True)
class RollbackOutcome:
    rollback: Rollback
    deployment: Deployment  # the new deployment that carries the rollback out
    rolled_back: Deployment
    lock: Lock | None  # what holds the environment for the service now (None when asked not to lock)
    lock_created: bool  # False when a lock on that scope already existed and was kept


@dataclass(frozen=True)
class _Asked:
    """Who asks for a rollback of which service in which environment, why, and when."""

    actor: Actor
    svc: Service
    env: Environment
    reason: str | None
    now: datetime
    request_id: str | None


async def roll_back(
    uow: UnitOfWork,
    *,
    actor: Actor,
    service: str,
    environment: str,
    now: datetime,
    request_id: str | None,
    to_version: str | None = None,
    reason: str | None = None,
    lock: bool = True,
) -> RollbackOutcome:
    """Roll back the latest finished deployment of ``service`` to ``environment`` (see the module)."""
    require(actor, Permission.ROLLBACK)
    env = await find_environment(uow, environment)
    svc = await find_service(uow, service)
    asked = _Asked(actor, svc, env, reason, now, request_id)
    return await _roll_back(uow, asked, pinned=None, to_version=to_version, lock=lock)


async def roll_back_deployment(
    uow: UnitOfWork,
    *,
    actor: Actor,
    deployment_id: int,
    now: datetime,
    request_id: str | None,
    reason: str | None = None,
    lock: bool = True,
) -> RollbackOutcome:
    """Roll back this deployment (the Roll back button of a failed one); it must still be the latest there."""
    require(actor, Permission.ROLLBACK)
    deployment = await find_deployment(uow, deployment_id)
    env = await find_environment(uow, deployment.environment)
    svc = await find_service(uow, deployment.service)
    asked = _Asked(actor, svc, env, reason, now, request_id)
    return await _roll_back(uow, asked, pinned=deployment, to_version=None, lock=lock)


async def _roll_back(
    uow: UnitOfWork, asked: _Asked, *, pinned: Deployment | None, to_version: str | None, lock: bool
) -> RollbackOutcome:
    rolled, release = await _choose(uow, asked, pinned, to_version)
    marked = await _mark_rolled_back(uow, rolled)
    opened = await open_deployment(
        uow,
        actor=asked.actor,
        service=asked.svc,
        environment=asked.env,
        release=release,
        now=asked.now,
        request_id=asked.request_id,
        bypasses=[],
        kind=ROLLBACK_KIND,
        rollback_of=rolled,
    )
    new = opened.deployment
    assert release.id is not None and new.id is not None
    rollback = await uow.rollbacks.add(
        Rollback(
            asked.svc.name,
            asked.env.name,
            rolled.id,
            release.id,
            asked.actor.user_id,
            asked.now,
            reason=asked.reason,
            deployment_id=new.id,
        )
    )
    await _record(uow, asked, rolled=rolled, new=new, release=release, marked=marked)
    await uow.outbox.add(status_notification(rolled, asked.svc))
    if rolled.requested_by != asked.actor.user_id:
        outcome = f"rolled back by <@{asked.actor.user_id}>"
        await uow.outbox.add(outcome_notification(rolled, outcome=outcome, reason=asked.reason))
    held, created = await _hold(uow, asked, rolled, new) if lock else (None, False)
    return RollbackOutcome(rollback, new, rolled, held, created)


async def _choose(
    uow: UnitOfWork, asked: _Asked, pinned: Deployment | None, to_version: str | None
) -> tuple[Deployment, Release]:
    """The deployment to roll back and the release to go back to, once every rule is checked."""
    svc, env = asked.svc, asked.env
    active = await uow.deployments.active(svc.name, env.name)
    if active is not None:
        raise Conflict(
            f"{escape(svc.name)} has an active deployment to {escape(env.name)}: {describe_active(active)}.",
            hint=f"Cancel it first (`/release cancel {active.reference}`), or wait for it to finish.",
        )
    history = list(await uow.deployments.search(service=svc.name, environment=env.name, limit=HISTORY))
    rolled = await _rolled_back(uow, history, pinned, svc, env)
    release = await _target(uow, history, rolled, to_version, svc, env)
    # A rollback restores a version that ran there already: no promotion order, and freezes do not stop it.
    await gates.check_lock_and_freeze(
        uow, actor_id=asked.actor.user_id, service=svc, environment=env, now=asked.now, freeze_overridden=True
    )
    return rolled, release


def _finished(history: Sequence[Deployment]) -> list[Deployment]:
    return [d for d in history if d.status in ROLLED_BACK_FROM]


async def _rolled_back(
    uow: UnitOfWork, history: list[Deployment], pinned: Deployment | None, svc: Service, env: Environment
) -> Deployment:
    """The deployment to roll back: the latest that succeeded or failed there (the pinned one must be it)."""
    finished = _finished(history)
    if pinned is not None and pinned.status not in ROLLED_BACK_FROM:
        if pinned.status is DeploymentStatus.ROLLED_BACK:
            rollback = await uow.rollbacks.away_from(pinned.id or 0)
            by = f" with D-{rollback.deployment_id} by <@{rollback.initiated_by}>" if rollback else ""
            raise Conflict(f"{pinned.reference} was already rolled back{by}.")
        raise Conflict(
            f"{pinned.reference} is {pinned.status.value.replace('_', ' ')}: only a deployment that succeeded or "
            "failed can be rolled back."
        )
    if not finished:
        raise NotFound(
            f"{escape(svc.name)} has no deployment to {escape(env.name)} that succeeded or failed: there is nothing "
            "to roll back.",
            hint=f"`/release status {escape(svc.name)}` shows what runs where.",
        )
    latest = finished[0]
    if pinned is not None and pinned.id != latest.id:
        raise Conflict(
            f"{pinned.reference} is no longer the latest deployment of {escape(svc.name)} to {escape(env.name)}: "
            f"{latest.reference} (`{escape(latest.version)}`, {latest.status.value.replace('_', ' ')}) is.",
            hint=f"To roll that back: `/release rollback {escape(svc.name)} {escape(env.name)}`.",
        )
    return latest


async def _target(
    uow: UnitOfWork,
    history: list[Deployment],
    rolled: Deployment,
    to_version: str | None,
    svc: Service,
    env: Environment,
) -> Release:
    """The release to go back to (see the module for the rule)."""
    assert rolled.id is not None
    earlier = [d for d in history if d.id is not None and d.id < rolled.id and d.status is DeploymentStatus.SUCCESS]
    if to_version is not None:
        return await _named_target(uow, earlier, rolled, to_version, svc, env)
    for candidate in earlier:
        if candidate.version == rolled.version:
            continue
        release = await uow.releases.get(svc.name, candidate.version)
        if release is not None and release.status is not ReleaseStatus.BAD:
            return release
    raise Conflict(
        f"There is no earlier good version of {escape(svc.name)} in {escape(env.name)} to roll back to: no other "
        f"version that is not marked bad succeeded there before {rolled.reference} (`{escape(rolled.version)}`).",
        hint=f"Deploy a fixed version instead: `/release deploy {escape(svc.name)} <version> to {escape(env.name)}`.",
    )


async def _named_target(
    uow: UnitOfWork, earlier: list[Deployment], rolled: Deployment, version: str, svc: Service, env: Environment
) -> Release:
    release = await find_release(uow, svc, version)
    if release.version == rolled.version:
        raise Conflict(
            f"`{escape(version)}` is the version being rolled back ({rolled.reference}).",
            hint="Name an earlier version, or leave out `to` for the last good one.",
        )
    if release.status is ReleaseStatus.BAD:
        assert release.id is not None
        marking = await gates.describe_marking(uow, await uow.rollbacks.marking(release.id))
        raise Conflict(
            f"{escape(svc.name)} `{escape(version)}` is marked bad: {marking}.",
            hint="Name another version, or leave out `to` for the last good one.",
        )
    if not any(d.version == release.version for d in earlier):
        good = list(dict.fromkeys(d.version for d in earlier if d.version != rolled.version))[:10]
        listed = ", ".join(f"`{escape(v)}`" for v in good) or "none"
        raise Conflict(
            f"{escape(svc.name)} `{escape(version)}` never succeeded in {escape(env.name)} before "
            f"{rolled.reference}: a rollback goes back to a version that ran there.",
            hint=f"Versions that succeeded there before: {listed}.",
        )
    return release


async def _mark_rolled_back(uow: UnitOfWork, rolled: Deployment) -> bool:
    """The one conditional transition that makes this rollback the only one; returns whether the release was
    marked bad now (it may have been already)."""
    assert rolled.id is not None and rolled.release_id is not None
    moved = await uow.deployments.transition(
        rolled.id, from_statuses=list(ROLLED_BACK_FROM), to_status=DeploymentStatus.ROLLED_BACK
    )
    if not moved:
        raise Conflict(
            f"{rolled.reference} was rolled back a moment ago.",
            hint=f"`/release status {escape(rolled.service)}` shows what runs now.",
        )
    rolled.status = DeploymentStatus.ROLLED_BACK
    return await uow.releases.mark_bad(rolled.release_id)


async def _record(
    uow: UnitOfWork, asked: _Asked, *, rolled: Deployment, new: Deployment, release: Release, marked: bool
) -> None:
    details = {
        "service": rolled.service,
        "environment": rolled.environment,
        "from_version": rolled.version,
        "to_version": release.version,
        "to_release": release.reference,
        "deployment": new.reference,
        "reason": asked.reason,
    }
    await _audit(uow, asked, action="deployment.rollback", target=rolled.reference, details=details)
    if marked:
        bad = {"service": rolled.service, "version": rolled.version, "rolled_back": rolled.reference}
        await _audit(
            uow, asked, action="release.bad", target=f"R-{rolled.release_id}", details=bad | {"rollback": new.reference}
        )


async def _audit(uow: UnitOfWork, asked: _Asked, *, action: str, target: str, details: dict[str, Any]) -> None:
    await audit.record(
        uow,
        actor=asked.actor,
        action=action,
        target=target,
        now=asked.now,
        request_id=asked.request_id,
        details=details,
    )


async def _hold(uow: UnitOfWork, asked: _Asked, rolled: Deployment, new: Deployment) -> tuple[Lock, bool]:
    """Lock the environment for the service, with the rollback's reason, until someone unlocks it; a lock already
    held on that scope is kept."""
    env, svc = asked.env.name, asked.svc.name
    existing = await uow.locks.holding(env, svc, now=asked.now)
    if existing is not None:
        return existing, False
    reason = asked.reason or f"rollback of {rolled.reference} ({rolled.version}) with {new.reference}"
    try:
        held = await locks.lock_scope(
            uow,
            actor=asked.actor,
            environment=env,
            service=svc,
            duration_s=None,
            reason=reason,
            now=asked.now,
            request_id=asked.request_id,
        )
    except Conflict:
        winner = await uow.locks.holding(env, svc, now=asked.now)
        if winner is None:
            raise
        return winner, False
    return held, True

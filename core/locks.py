"""Locks: an environment, or one service in it, held by one person so that nobody else deploys there.

One unreleased lock per scope (the database enforces it too). A lock ends when its owner unlocks it,
when it expires, or when an admin breaks it with a reason (an audited bypass). The owner may deploy
through their own lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# A module import: core.deployments imports the deployment gates, which import this module.
from core import audit, deployments
from core.channels import scope_channels
from core.errors import Conflict, NotFound, PermissionDenied
from core.model import Actor, Lock, Notification, Service
from core.permissions import Permission, can, require
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import clock_time, escape, mention

REMIND_BEFORE = timedelta(minutes=15)
NOTICE = "lock.notice"  # in the affected channels
DIRECT = "lock.direct"  # to the owner


def scope_text(environment: str, service: str | None) -> str:
    if service:
        return f"*{escape(service)}* in *{escape(environment)}*"
    return f"*{escape(environment)}*"


def _held(lock: Lock) -> str:
    until = clock_time(lock.expires_at, lock.created_at) if lock.expires_at else "unlocked"
    text = f"by {mention(lock.owner)} until {until}"
    return f"{text}: {escape(lock.reason)}" if lock.reason else text


def describe_lock(lock: Lock) -> str:
    """``locked by <@U…> until 18:00 UTC: reason``; ``locked for <service> by …`` when one service is locked."""
    scope = f" for {escape(lock.service)}" if lock.service else ""
    return f"locked{scope} {_held(lock)}"


async def blocking_lock(
    uow: UnitOfWork, *, actor_id: str, service: str, environment: str, now: datetime
) -> Lock | None:
    """The lock that stops ``actor_id`` deploying ``service`` to ``environment``: one held by someone else on the
    whole environment or on that service in it. Expired locks never block; the owner passes their own lock."""
    for lock in await uow.locks.active(environment, service, now=now):
        if lock.owner != actor_id:
            return lock
    return None


async def _scope(uow: UnitOfWork, environment: str, service: str | None) -> tuple[str, Service | None]:
    env = await deployments.find_environment(uow, environment)
    return env.name, (await find_service(uow, service) if service else None)


def _data(lock: Lock, **extra: Any) -> dict[str, Any]:
    return {
        "reference": lock.reference,
        "environment": lock.environment,
        "service": lock.service,
        "owner": lock.owner,
        "reason": lock.reason,
        "expires_at": lock.expires_at.isoformat() if lock.expires_at else None,
        **extra,
    }


async def _announce(uow: UnitOfWork, lock: Lock, service: Service | None, event: str, **extra: Any) -> None:
    for channel in await scope_channels(uow, service):
        await uow.outbox.add(Notification(kind=NOTICE, channel=channel, data=_data(lock, event=event, **extra)))


async def _tell_owner(uow: UnitOfWork, lock: Lock, event: str, **extra: Any) -> None:
    await uow.outbox.add(Notification(kind=DIRECT, channel=lock.owner, data=_data(lock, event=event, **extra)))


def _already_locked(existing: Lock, actor: Actor) -> Conflict:
    scope = scope_text(existing.environment, existing.service)
    unlock = f"/release unlock {escape(existing.environment)}" + (
        f" {escape(existing.service)}" if existing.service else ""
    )
    if existing.owner == actor.user_id:
        return Conflict(
            f"You already hold the lock on {scope} ({existing.reference}, until "
            f"{clock_time(existing.expires_at, existing.created_at) if existing.expires_at else 'you unlock it'}).",
            hint=f"To change it, unlock it first: `{unlock}`.",
        )
    return Conflict(
        f"{scope} is already locked {_held(existing)} ({existing.reference}).",
        hint=f"Ask {mention(existing.owner)} to unlock it, or wait until it ends. "
        f"An admin can break it: `{unlock} --force reason <text>`.",
    )


async def lock_scope(
    uow: UnitOfWork,
    *,
    actor: Actor,
    environment: str,
    service: str | None,
    duration_s: int | None,
    reason: str | None,
    now: datetime,
    request_id: str | None,
) -> Lock:
    """Lock an environment (or one service in it) for the actor.

    A scope has at most one unreleased lock: a second is refused naming the holder, its reason and its expiry.
    An expired lock on the scope is released first, so it never stands in the way.
    """
    require(actor, Permission.LOCK)
    env, svc = await _scope(uow, environment, service)
    service_name = svc.name if svc else None
    await _release_expired(uow, actor=actor, now=now, environment=env, service=service_name)
    expires_at = now + timedelta(seconds=duration_s) if duration_s else None
    lock = await _add_or_refuse(
        uow,
        Lock(
            environment=env,
            owner=actor.user_id,
            created_at=now,
            service=service_name,
            reason=reason,
            expires_at=expires_at,
        ),
        actor,
    )
    await audit.record(
        uow,
        actor=actor,
        action="lock.create",
        target=lock.reference,
        now=now,
        request_id=request_id,
        details={"environment": env, "service": service_name, "reason": reason, "expires_at": _iso(expires_at)},
    )
    await _announce(uow, lock, svc, "locked")
    return lock


async def _add_or_refuse(uow: UnitOfWork, candidate: Lock, actor: Actor) -> Lock:
    """Check, then insert; when another session won the race, the unique index refuses and we name the winner."""
    existing = await uow.locks.holding(candidate.environment, candidate.service, now=candidate.created_at)
    if existing is not None:
        raise _already_locked(existing, actor)
    try:
        return await uow.locks.add(candidate)
    except Conflict:
        winner = await uow.locks.holding(candidate.environment, candidate.service, now=candidate.created_at)
        if winner is None:
            raise
        raise _already_locked(winner, actor) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def unlock_scope(
    uow: UnitOfWork,
    *,
    actor: Actor,
    environment: str,
    service: str | None,
    force_reason: str | None,
    now: datetime,
    request_id: str | None,
) -> tuple[Lock, bool]:
    """Release the lock on a scope; returns it and whether it was someone else's (broken).

    Only the owner may unlock; an admin may break another person's lock with ``--force`` and a reason, which is
    audited as a bypass and announced to the owner and the affected channels.
    """
    require(actor, Permission.UNLOCK)
    env, svc = await _scope(uow, environment, service)
    service_name = svc.name if svc else None
    scope = scope_text(env, service_name)
    lock = await uow.locks.holding(env, service_name, now=now)
    if lock is None:
        raise NotFound(f"{scope} is not locked.", hint="`/release locks` lists the locks held now.")
    broken = lock.owner != actor.user_id
    if broken:
        _check_break(actor, lock, scope, force_reason)
    assert lock.id is not None
    if not await uow.locks.release(lock.id, by=actor.user_id, now=now):
        raise Conflict(f"{scope} was unlocked a moment ago.", hint="`/release locks` lists the locks held now.")
    lock.released_at = now
    details: dict[str, Any] = {"environment": env, "service": service_name, "owner": lock.owner}
    if broken:
        details |= {"bypass": "lock", "reason": force_reason}
    action = "lock.break" if broken else "lock.release"
    await audit.record(
        uow, actor=actor, action=action, target=lock.reference, now=now, request_id=request_id, details=details
    )
    if broken:
        await _announce(uow, lock, svc, "broken", by=actor.user_id, break_reason=force_reason)
        await _tell_owner(uow, lock, "broken", by=actor.user_id, break_reason=force_reason)
    else:
        await _announce(uow, lock, svc, "unlocked", by=actor.user_id)
    return lock, broken


def _check_break(actor: Actor, lock: Lock, scope: str, force_reason: str | None) -> None:
    unlock = f"/release unlock {escape(lock.environment)}" + (f" {escape(lock.service)}" if lock.service else "")
    if not can(actor, Permission.BREAK_LOCK):
        raise PermissionDenied(
            f"{scope} is locked {_held(lock)}: only {mention(lock.owner)} or an admin can unlock it.",
            hint=f"Ask {mention(lock.owner)} to unlock it, or wait until it ends.",
        )
    if force_reason is None:
        raise Conflict(
            f"{scope} is locked {_held(lock)}: the lock is not yours.",
            hint=f"To break it, say why: `{unlock} --force reason <text>`. The owner and the channel are told.",
        )


async def _release_expired(
    uow: UnitOfWork, *, actor: Actor, now: datetime, environment: str | None = None, service: str | None = None
) -> list[Lock]:
    released = list(await uow.locks.release_expired(now=now, environment=environment, service=service))
    for lock in released:
        await audit.record(
            uow,
            actor=actor,
            action="lock.expire",
            target=lock.reference,
            now=now,
            request_id=None,
            details={"environment": lock.environment, "service": lock.service, "owner": lock.owner},
        )
        svc = await uow.services.get(lock.service) if lock.service else None
        await _announce(uow, lock, svc, "expired")
        await _tell_owner(uow, lock, "expired")
    return released


async def expire_and_remind(uow: UnitOfWork, *, actor: Actor, now: datetime) -> int:
    """The periodic upkeep: release expired locks (telling owners and channels) and remind each owner once,
    15 minutes before their lock expires. Safe on several replicas: every change is conditional."""
    released = await _release_expired(uow, actor=actor, now=now)
    reminded = await uow.locks.claim_reminders(now=now, until=now + REMIND_BEFORE)
    for lock in reminded:
        await _tell_owner(uow, lock, "reminder")
    return len(released) + len(reminded)


async def list_locks(uow: UnitOfWork, *, actor: Actor, now: datetime) -> list[Lock]:
    """Every lock held now (expired ones are left out even before the upkeep releases them)."""
    require(actor, Permission.VIEW)
    return sorted(await uow.locks.list_active(now=now), key=lambda lock: (lock.environment, lock.service or ""))

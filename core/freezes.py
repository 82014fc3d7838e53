"""Freezes: intervals during which nothing is deployed to an environment.

A one-off freeze holds from ``starts_at`` until ``ends_at``; admins create and cancel it by command. A
recurring freeze (a cron expression, a duration and a time zone) comes from configuration: it holds for
``duration_s`` after each time its expression fires, evaluated in its own time zone, DST included.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# A module import: core.deployments imports the deployment gates, which import this module.
from core import audit, deployments
from core.channels import team_channels
from core.cron import next_fire, previous_fire
from core.errors import Conflict, Invalid, NotFound
from core.model import Actor, Freeze, FreezeWindow, Notification
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.text import clock_time, escape

NOTICE = "freeze.notice"
MAX_AHEAD = timedelta(days=366)


def window_at(freeze: Freeze, now: datetime) -> FreezeWindow | None:
    """The occurrence of ``freeze`` that contains ``now`` (start included, end excluded), if any.

    A recurring freeze holds at ``now`` if and only if its latest fire time at or before ``now`` is less than
    ``duration_s`` ago.
    """
    if freeze.cancelled_at is not None:
        return None
    if freeze.cron and freeze.duration_s and freeze.timezone:
        fired = previous_fire(freeze.cron, freeze.timezone, now)
        if fired is None or now >= fired + timedelta(seconds=freeze.duration_s):
            return None
        return FreezeWindow(freeze, fired, fired + timedelta(seconds=freeze.duration_s))
    if freeze.starts_at is not None and freeze.ends_at is not None and freeze.starts_at <= now < freeze.ends_at:
        return FreezeWindow(freeze, freeze.starts_at, freeze.ends_at)
    return None


def current_or_next_window(freeze: Freeze, now: datetime) -> FreezeWindow | None:
    """The occurrence holding at ``now``, else the next one to start; None when none is left."""
    window = window_at(freeze, now)
    if window is not None or freeze.cancelled_at is not None:
        return window
    if freeze.cron and freeze.duration_s and freeze.timezone:
        fires = next_fire(freeze.cron, freeze.timezone, now)
        return FreezeWindow(freeze, fires, fires + timedelta(seconds=freeze.duration_s)) if fires else None
    if freeze.starts_at is not None and freeze.ends_at is not None and freeze.starts_at > now:
        return FreezeWindow(freeze, freeze.starts_at, freeze.ends_at)
    return None


async def active_freeze(uow: UnitOfWork, *, environment: str, now: datetime) -> FreezeWindow | None:
    """The freeze holding on ``environment`` at ``now``; of several, the one that ends last."""
    windows = await uow.freezes.windows_at(environment, now=now)
    return max(windows, key=lambda window: window.ends_at, default=None)


def describe_freeze(window: FreezeWindow) -> str:
    """``frozen until Mon 09:00 UTC: reason``."""
    text = f"frozen until {clock_time(window.ends_at, window.starts_at)}"
    return f"{text}: {escape(window.freeze.reason)}" if window.freeze.reason else text


def _moment(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _check_interval(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= now:
        raise Invalid(
            f"`until` is in the past ({_moment(ends_at)}; it is {_moment(now)} now): a freeze must end in the future.",
            hint="Check the date, and the time zone (`tz Europe/Paris`; UTC unless you say).",
        )
    if ends_at <= starts_at:
        raise Invalid(
            f"`until` must be after `from`: the freeze would start {_moment(starts_at)} and end {_moment(ends_at)}.",
            hint="Give an end after the start.",
        )
    if ends_at - now > MAX_AHEAD:
        raise Invalid(
            f"A freeze may end at most a year from now, not {_moment(ends_at)}.",
            hint="Recurring freezes belong in the configuration file.",
        )


async def freeze_environment(
    uow: UnitOfWork,
    *,
    actor: Actor,
    environment: str,
    starts_at: datetime | None,
    ends_at: datetime,
    reason: str | None,
    now: datetime,
    request_id: str | None,
) -> Freeze:
    """Freeze an environment from ``starts_at`` (now when None) until ``ends_at``; admins only.

    The end must come after the start and lie in the future (at most a year ahead).
    """
    require(actor, Permission.FREEZE)
    env = await deployments.find_environment(uow, environment)
    start = starts_at or now
    _check_interval(start, ends_at, now)
    freeze = await uow.freezes.add(
        Freeze(
            environment=env.name,
            created_by=actor.user_id,
            created_at=now,
            reason=reason,
            starts_at=start,
            ends_at=ends_at,
        )
    )
    await audit.record(
        uow,
        actor=actor,
        action="freeze.create",
        target=freeze.reference,
        now=now,
        request_id=request_id,
        details={"environment": env.name, "from": start.isoformat(), "until": ends_at.isoformat(), "reason": reason},
    )
    await _announce(uow, freeze, "frozen", actor)
    return freeze


async def _announce(uow: UnitOfWork, freeze: Freeze, event: str, actor: Actor) -> None:
    assert freeze.starts_at is not None and freeze.ends_at is not None
    data = {
        "event": event,
        "reference": freeze.reference,
        "environment": freeze.environment,
        "by": actor.user_id,
        "reason": freeze.reason,
        "starts_at": freeze.starts_at.isoformat(),
        "ends_at": freeze.ends_at.isoformat(),
    }
    for channel in await team_channels(uow):
        await uow.outbox.add(Notification(kind=NOTICE, channel=channel, data=data))


async def list_freezes(uow: UnitOfWork, *, actor: Actor, now: datetime) -> list[FreezeWindow]:
    """Freezes holding now and coming up, by start; a recurring one appears with its current or next occurrence."""
    require(actor, Permission.VIEW)
    windows = [current_or_next_window(freeze, now) for freeze in await uow.freezes.current(now=now)]
    return sorted((w for w in windows if w is not None), key=lambda w: (w.starts_at, w.freeze.id or 0))


async def unfreeze(uow: UnitOfWork, *, actor: Actor, freeze_id: int, now: datetime, request_id: str | None) -> Freeze:
    """Cancel a one-off freeze; admins or its creator. Recurring freezes are changed in the configuration."""
    reference = f"F-{freeze_id}"
    freeze = await uow.freezes.get(freeze_id)
    if freeze is None:
        raise NotFound(f"There is no freeze {reference}.", hint="`/release freezes` lists them.")
    if freeze.created_by != actor.user_id:
        require(actor, Permission.FREEZE)
    if freeze.cron:
        raise Invalid(
            f"{reference} is a recurring freeze (`{escape(freeze.cron)}`) from the configuration file.",
            hint="Remove it there; to deploy through it once, an admin may override the freeze on the deployment.",
        )
    if freeze.cancelled_at is not None:
        raise Conflict(f"{reference} was already cancelled, {_moment(freeze.cancelled_at)}.")
    if freeze.ends_at is not None and freeze.ends_at <= now:
        raise Conflict(f"{reference} already ended, {_moment(freeze.ends_at)}.")
    if not await uow.freezes.cancel(freeze_id, by=actor.user_id, now=now):
        raise Conflict(f"{reference} was cancelled a moment ago.")
    freeze.cancelled_at = now
    await audit.record(
        uow,
        actor=actor,
        action="freeze.cancel",
        target=reference,
        now=now,
        request_id=request_id,
        details={"environment": freeze.environment, "reason": freeze.reason},
    )
    await _announce(uow, freeze, "unfrozen", actor)
    return freeze

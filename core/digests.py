"""Use cases of the weekly DORA digest: compose it from the store, send it exactly once, preview it.

The figures are the metrics object of ``core.dora_queries.metrics`` (the same code as ``/release metrics``
and ``releasebot metrics``); the lists beside them come from ``uow.digests``. The content itself is
``core.digest.compose``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core import audit
from core.cron import previous_fire
from core.digest import (
    KIND,
    SLOWEST,
    DigestLists,
    DigestPeriod,
    DigestRun,
    compose,
    last_full_week,
    scope_key,
)
from core.dora import Scope, ScopeKind, Window
from core.dora_queries import metrics
from core.errors import NotFound
from core.model import Actor, Notification, Team
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.text import escape

PREVIEW_USAGE = "/release digest preview team <team>"
_CRON_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class DigestTarget:
    """Where one digest goes: the team's channel (the team's figures) or a service's (that service's)."""

    scope: Scope
    channel: str


def window_of(period: DigestPeriod) -> Window:
    return Window(period.start, period.end, period.tz)


async def digest_targets(uow: UnitOfWork, team: Team) -> list[DigestTarget]:
    """The team's channel when it has one, and the channel of each of its services with ``digest: true``."""
    found = []
    if team.slack_channel:
        found.append(DigestTarget(Scope(ScopeKind.TEAM, team.name), team.slack_channel))
    for service in await uow.services.list():
        if service.team == team.name and service.active and service.digest and service.slack_channel:
            found.append(DigestTarget(Scope(ScopeKind.SERVICE, service.name), service.slack_channel))
    return found


async def compose_digest(uow: UnitOfWork, *, scope: Scope, team: Team, period: DigestPeriod) -> dict[str, Any]:
    """The digest of a team (with a row per service of the team) or of one service, for ``period``."""
    before = period.before()
    current = await metrics(uow, scope, window_of(period))
    previous = await metrics(uow, scope, window_of(before))
    stored = await uow.digests.sent(scope_key(scope), before.start)
    services = []
    if scope.kind is ScopeKind.TEAM:
        for service in await uow.services.list():
            if service.team == team.name and service.active:
                figures = await metrics(uow, Scope(ScopeKind.SERVICE, service.name), window_of(period))
                services.append((service.name, figures))
    lists = DigestLists(
        failures=await uow.digests.failures(scope, period.start, period.end),
        open_failures=await uow.digests.open_failures(scope, period.end),
        slowest=await uow.digests.slowest_lead_times(scope, period.start, period.end, limit=SLOWEST),
    )
    return compose(
        scope=scope,
        period=period,
        current=current,
        previous=previous,
        stored_previous=stored.payload if stored is not None else None,
        services=services,
        lists=lists,
    )


async def send_digest(
    uow: UnitOfWork,
    *,
    team: Team,
    target: DigestTarget,
    period: DigestPeriod,
    actor: Actor,
    now: datetime,
    claimed_by: str,
) -> bool:
    """Exactly once per scope and week: the ``digest_runs`` row (unique scope and week start), the digest as
    sent and its outbox message are written in the caller's transaction; a second run, on this replica or
    another, finds the row or loses the insert and queues nothing. True for the one run that queued it."""
    key = scope_key(target.scope)
    if await uow.digests.sent(key, period.start) is not None:
        return False
    payload = await compose_digest(uow, scope=target.scope, team=team, period=period)
    run = DigestRun(scope=key, period_start=period.start, period_end=period.end, payload=payload, created_at=now)
    if not await uow.digests.claim(run, claimed_by=claimed_by):
        return False
    await uow.outbox.add(Notification(kind=KIND, channel=target.channel, data=payload))
    await audit.record(
        uow,
        actor=actor,
        action="digest.sent",
        target=key,
        now=now,
        request_id=None,
        details={
            "period_start": period.start.isoformat(),
            "period_end": period.end.isoformat(),
            "channel": target.channel,
        },
    )
    return True


def schedule_cron(day: str, time_of_day: str) -> str:
    """``mon`` and ``09:00`` -> the cron expression ``0 9 * * mon``."""
    hour, minute = (int(part) for part in time_of_day.split(":"))
    if day not in _CRON_DAYS:
        raise ValueError(f"not a digest day: {day!r}")
    return f"{minute} {hour} * * {day}"


def latest_schedule(day: str, time_of_day: str, tz: str, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` at which the digest was scheduled (``day`` at ``time`` in ``tz``)."""
    return previous_fire(schedule_cron(day, time_of_day), tz, now)


def due_period(day: str, time_of_day: str, tz: str, *, now: datetime, grace: timedelta) -> DigestPeriod | None:
    """The week whose digest is due at ``now``: the last full week before the latest scheduled time, if that
    time is at most ``grace`` ago (a run missed while the bot was down is caught up within the grace period,
    never later). Sending it exactly once is the claim's business (``uow.digests.claim``)."""
    fired = latest_schedule(day, time_of_day, tz, now)
    if fired is None or now - fired > grace:
        return None
    return last_full_week(fired, tz)


def team_due(team: Team, *, now: datetime, grace: timedelta) -> DigestPeriod | None:
    """The week whose digest the team is due at ``now`` (its day and time in its zone), if any."""
    return due_period(team.digest_day, team.digest_time, team.timezone, now=now, grace=grace)


@dataclass(frozen=True)
class DigestPreview:
    team: Team
    period: DigestPeriod
    payload: dict[str, Any]


async def preview_digest(uow: UnitOfWork, *, actor: Actor, team: str | None, now: datetime) -> DigestPreview:
    """The digest of the caller's team (or the one named) for the last full week: composed, never stored or
    sent."""
    require(actor, Permission.SEE_METRICS)
    name = team or await uow.digests.team_of(actor.user_id)
    known = [item.name for item in await uow.teams.list()]
    choices = f"Teams: {', '.join(f'`{escape(n)}`' for n in known)}." if known else "There are no teams yet."
    if name is None:
        raise NotFound(
            "You are not in a team, so I don't know whose digest to show.",
            hint=f"Name one: `{PREVIEW_USAGE}`. {choices}",
        )
    found = await uow.teams.get(name)
    if found is None:
        raise NotFound(f"There is no team `{escape(name)}`.", hint=f"{choices} Type `{PREVIEW_USAGE}`.")
    period = last_full_week(now, found.timezone)
    payload = await compose_digest(uow, scope=Scope(ScopeKind.TEAM, found.name), team=found, period=period)
    return DigestPreview(found, period, payload)

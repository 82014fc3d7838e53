"""The weekly DORA digest job: each team's digest at its scheduled time, or caught up after the bot was down
(within the grace period), exactly once however many replicas or runs try."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from core import digests
from core.model import Team
from handlers.deps import Deps
from handlers.jobs import SYSTEM

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TeamSchedule:
    """When a team's digest is due: its day and time in its zone."""

    team: str
    day: str
    time: str
    timezone: str


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


async def team_schedules(deps: Deps) -> list[TeamSchedule]:
    async with deps.uow() as uow:
        teams = await uow.teams.list()
    return [TeamSchedule(team.name, team.digest_day, team.digest_time, team.timezone) for team in teams]


async def send_due_digests(
    deps: Deps, *, grace: timedelta, now: datetime | None = None, team: str | None = None
) -> int:
    """Every team (or the one named) whose latest scheduled time is at most ``grace`` before ``now`` gets that
    week's digest in each of its channels, unless it was sent already. The scheduled run and the catch-up at
    start-up and on each resync both come here; returns how many digests this call queued."""
    now = now or deps.clock()
    async with deps.uow() as uow:
        teams = [item for item in await uow.teams.list() if team is None or item.name == team]
    sent = 0
    for item in teams:
        try:
            sent += await _send_team(deps, item, now=now, grace=grace)
        except Exception:
            log.exception("digest failed", team=item.name)
    if sent:
        deps.wake_delivery()
        log.info("digests queued", count=sent, team=team)
    return sent


async def _send_team(deps: Deps, team: Team, *, now: datetime, grace: timedelta) -> int:
    period = digests.team_due(team, now=now, grace=grace)
    if period is None:
        return 0
    async with deps.uow() as uow:
        targets = await digests.digest_targets(uow, team)
    sent = 0
    for target in targets:  # one transaction per channel: a failure in one leaves the others sent
        async with deps.uow() as uow:
            queued = await digests.send_digest(
                uow, team=team, target=target, period=period, actor=SYSTEM, now=now, claimed_by=worker_id()
            )
            if queued:
                await uow.commit()
                sent += 1
    return sent

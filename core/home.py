"""What a person's App Home shows, as data, and when refreshed views are published.

Home shows the deployments waiting for the person's approval, their own recent deployments, the services of
their team in each environment (version, status, age, lock and freeze), the locks and freezes, this week's
DORA headline for their team, and their notification preferences. A refresh round reads what every Home
shows alike once (``snapshot``), then each recent viewer's own part (``home_for``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.deployment_views import DeploymentView, describe_deployment
from core.freezes import current_or_next_window
from core.model import (
    Actor,
    Deployment,
    DeploymentStatus,
    Environment,
    FreezeWindow,
    Lock,
    Role,
    Service,
    Team,
    User,
)
from core.notify_prefs import prefs_of
from core.permissions import Permission, can
from core.policies import may_approve
from core.ports import UnitOfWork

log = logging.getLogger(__name__)

RECENT_LIMIT = 10
ACTIVE_VIEWERS = timedelta(hours=24)  # only people who opened Home this recently get refreshed views
Metrics = Callable[[UnitOfWork, Any, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class MatrixCell:
    """One service in one environment: the version that last succeeded there, what is in progress, and
    whether a lock or a freeze holds."""

    environment: str
    current: Deployment | None
    active: Deployment | None
    lock: Lock | None
    freeze: FreezeWindow | None
    failed: Deployment | None = None  # the newest deployment there, when it failed


@dataclass(frozen=True)
class MatrixRow:
    service: Service
    cells: list[MatrixCell]


@dataclass(frozen=True)
class DoraHeadline:
    """This week's four keys for a scope: the spec's metrics object, or None when there is no data."""

    scope: str  # "team payments", or "all teams"
    start: datetime
    end: datetime
    figures: dict[str, Any] | None

    def _figure(self, metric: str, key: str) -> Any:
        return ((self.figures or {}).get(metric) or {}).get(key)

    @property
    def deploys(self) -> int | None:
        value = self._figure("deployment_frequency", "successful_deployments")
        return int(value) if value is not None else None

    @property
    def lead_time_median_s(self) -> float | None:
        return cast(float | None, self._figure("lead_time", "median_s"))

    @property
    def change_failure(self) -> tuple[float | None, int, int]:
        """The rate (None without finished deployments), failed and finished deployments."""
        return (
            self._figure("change_failure_rate", "rate"),
            int(self._figure("change_failure_rate", "failed_deployments") or 0),
            int(self._figure("change_failure_rate", "finished_deployments") or 0),
        )

    @property
    def restore_median_s(self) -> float | None:
        return cast(float | None, self._figure("time_to_restore", "median_s"))


@dataclass(frozen=True)
class HomeData:
    user_id: str
    role: Role
    team: str | None
    approvals: list[DeploymentView]
    recent: list[Deployment]
    environments: list[Environment]
    matrix: list[MatrixRow]
    locks: list[Lock]
    freezes: list[FreezeWindow]
    dora: DoraHeadline | None  # None: the person may not see metrics
    prefs: dict[str, bool]
    now: datetime


@dataclass
class HomeSnapshot:
    """What every Home shows alike, read once per refresh round."""

    now: datetime
    environments: list[Environment]
    services: list[Service]
    current: list[Deployment]
    active: list[Deployment]
    latest: list[Deployment]
    pending: list[DeploymentView]
    locks: list[Lock]
    freezes: list[FreezeWindow]
    users: dict[str, User]
    teams: dict[str, Team]
    dora: dict[str | None, DoraHeadline] = field(default_factory=dict)  # by team (None: all teams)


async def snapshot(uow: UnitOfWork, *, now: datetime) -> HomeSnapshot:
    active = list(await uow.deployments.active_list())
    pending = []
    for deployment in active:
        if deployment.status is not DeploymentStatus.PENDING_APPROVAL or deployment.id is None:
            continue
        if deployment.expires_at is not None and now >= deployment.expires_at:
            continue
        view = await describe_deployment(uow, deployment.id)
        if view is not None:
            pending.append(view)
    windows = [current_or_next_window(freeze, now) for freeze in await uow.freezes.current(now=now)]
    return HomeSnapshot(
        now=now,
        environments=sorted(await uow.environments.list(), key=lambda e: (e.order, e.name)),
        services=sorted((s for s in await uow.services.list() if s.active), key=lambda s: s.name),
        current=list(await uow.deployments.current_versions()),
        active=active,
        latest=list(await uow.home.latest()),
        pending=sorted(pending, key=lambda view: view.deployment.id or 0),
        locks=sorted(await uow.locks.list_active(now=now), key=lambda lock: (lock.environment, lock.service or "")),
        freezes=sorted((w for w in windows if w is not None), key=lambda w: (w.starts_at, w.freeze.id or 0)),
        users={user.slack_user_id: user for user in await uow.users.list()},
        teams={team.name: team for team in await uow.teams.list()},
    )


def actor_of(snap: HomeSnapshot, user_id: str, *, admins: Collection[str], default_role: Role) -> Actor:
    """The same rule as ``core.actors.resolve_actor``, read from the snapshot."""
    if user_id in admins:
        return Actor(user_id, Role.ADMIN)
    user = snap.users.get(user_id)
    return Actor(user_id, user.role if user is not None else default_role)


def waiting_for(snap: HomeSnapshot, actor: Actor) -> list[DeploymentView]:
    """As ``core.approvals.pending_for``: what this person may approve and has not decided on yet."""
    found = []
    for view in snap.pending:
        deployment = view.deployment
        if not may_approve(actor, view.environment):
            continue
        if actor.user_id == deployment.requested_by and not view.environment.policy.self_approval:
            continue
        if any(a.approver == actor.user_id for a in [*view.approvals, *view.rejections]):
            continue
        found.append(view)
    return found


def matrix(snap: HomeSnapshot, team: str | None) -> list[MatrixRow]:
    """The services of the team (every service for someone in no team) in each environment."""
    services = [s for s in snap.services if team is None or s.team == team]
    current = {(d.service, d.environment): d for d in snap.current}
    active = {(d.service, d.environment): d for d in snap.active}
    failed = {(d.service, d.environment): d for d in snap.latest if d.status is DeploymentStatus.FAILED}
    frozen: dict[str, FreezeWindow] = {}
    for window in snap.freezes:
        if window.starts_at <= snap.now < window.ends_at:
            frozen.setdefault(window.freeze.environment, window)
    rows = []
    for service in services:
        cells = []
        for env in snap.environments:
            lock = next(
                (lk for lk in snap.locks if lk.environment == env.name and lk.service in (None, service.name)), None
            )
            key = (service.name, env.name)
            cells.append(
                MatrixCell(env.name, current.get(key), active.get(key), lock, frozen.get(env.name), failed.get(key))
            )
        rows.append(MatrixRow(service, cells))
    return rows


def week_of(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 in the time zone, as UTC (a daylight-saving week is 167 or 169 h)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    monday = now.astimezone(zone).date()
    monday -= timedelta(days=monday.weekday())
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _metrics() -> Metrics | None:
    try:
        module = importlib.import_module("core.dora_queries")
    except ImportError:
        return None
    return cast(Metrics | None, getattr(module, "metrics", None))


async def dora_headline(uow: UnitOfWork, snap: HomeSnapshot, team: str | None) -> DoraHeadline:
    """This week's figures for the team (all teams for someone in no team), computed once per snapshot."""
    if team in snap.dora:
        return snap.dora[team]
    known = snap.teams.get(team) if team is not None else None
    zone = known.timezone if known is not None else "UTC"
    start, end = week_of(snap.now, zone)
    headline = DoraHeadline(f"team {team}" if team else "all teams", start, end, None)
    metrics = _metrics()
    if metrics is not None:
        from core.dora import Scope, ScopeKind, make_window

        scope = Scope(ScopeKind.TEAM, team) if team else Scope(ScopeKind.ORG)
        try:
            headline = DoraHeadline(
                headline.scope, start, end, await metrics(uow, scope, make_window(start, end, zone))
            )
        except Exception:  # Home shows "no data" rather than nothing at all
            log.exception("DORA metrics for App Home failed", extra={"team": team})
    snap.dora[team] = headline
    return headline


async def home_for(
    uow: UnitOfWork, snap: HomeSnapshot, *, user_id: str, admins: Collection[str], default_role: Role
) -> HomeData:
    """One person's Home: ``snap`` plus their own deployments and preferences."""
    actor = actor_of(snap, user_id, admins=admins, default_role=default_role)
    user = snap.users.get(user_id)
    team = user.team if user is not None else None
    recent = list(await uow.home.requested_by(user_id, limit=RECENT_LIMIT))
    dora = await dora_headline(uow, snap, team) if can(actor, Permission.SEE_METRICS) else None
    return HomeData(
        user_id=user_id,
        role=actor.role,
        team=team,
        approvals=waiting_for(snap, actor),
        recent=recent,
        environments=snap.environments,
        matrix=matrix(snap, team),
        locks=snap.locks,
        freezes=snap.freezes,
        dora=dora,
        prefs=prefs_of(user),
        now=snap.now,
    )


class RefreshSchedule:
    """When refreshed Home views go out: changes coalesce for ``delay`` after the first one (a later change
    never postpones the refresh), and one person's view is published at most once per ``interval``."""

    def __init__(self, *, delay: timedelta, interval: timedelta, active: timedelta = ACTIVE_VIEWERS) -> None:
        self.delay = delay
        self.interval = interval
        self.active = active
        self.due_at: datetime | None = None

    def changed(self, now: datetime) -> None:
        if self.due_at is None:
            self.due_at = now + self.delay

    def again_at(self, at: datetime) -> None:
        """Refresh again no later than ``at`` (someone's interval ends then)."""
        self.due_at = at if self.due_at is None else min(self.due_at, at)

    def take(self, now: datetime) -> bool:
        """True once when a refresh is due (and clears it)."""
        if self.due_at is None or now < self.due_at:
            return False
        self.due_at = None
        return True

    def seconds_until_due(self, now: datetime) -> float | None:
        return None if self.due_at is None else max(0.0, (self.due_at - now).total_seconds())

    def viewers_since(self, now: datetime) -> datetime:
        return now - self.active

    def last_publish_allowed(self, now: datetime) -> datetime:
        """A view published at or before this instant may be replaced now."""
        return now - self.interval

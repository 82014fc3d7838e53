"""Configuration use cases: teams, services, environments and users (admins only)."""

from __future__ import annotations

from datetime import datetime

from core import audit
from core.errors import NotFound
from core.model import Actor, Environment, Role, Service, Team
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.text import escape


async def add_team(
    uow: UnitOfWork,
    *,
    actor: Actor,
    name: str,
    channel: str | None,
    timezone: str | None,
    now: datetime,
    request_id: str | None,
) -> tuple[Team, bool]:
    """Create or update a team; returns the team and whether anything changed."""
    require(actor, Permission.MANAGE_CONFIG)
    existing = await uow.teams.get(name)
    team = Team(
        name=name,
        slack_channel=channel if channel is not None else (existing.slack_channel if existing else None),
        timezone=timezone or (existing.timezone if existing else "UTC"),
        digest_day=existing.digest_day if existing else "mon",
        digest_time=existing.digest_time if existing else "09:00",
    )
    changed = await uow.teams.upsert(team, now=now)
    if changed:
        await audit.record(
            uow,
            actor=actor,
            action="team.upsert",
            target=f"team:{name}",
            now=now,
            request_id=request_id,
            details={"channel": team.slack_channel, "timezone": team.timezone},
        )
    return team, changed


async def add_service(
    uow: UnitOfWork,
    *,
    actor: Actor,
    name: str,
    team: str,
    channel: str,
    repo: str | None,
    now: datetime,
    request_id: str | None,
) -> tuple[Service, bool]:
    """Create or update a service; its team must exist."""
    require(actor, Permission.MANAGE_CONFIG)
    if await uow.teams.get(team) is None:
        raise NotFound(
            f"There is no team `{escape(team)}`.",
            hint=f"Add it first: `/release team add {escape(team)} channel #channel`.",
        )
    existing = await uow.services.get(name)
    service = Service(
        name=name,
        team=team,
        slack_channel=channel,
        repo_url=repo if repo is not None else (existing.repo_url if existing else None),
        active=True,
        digest=existing.digest if existing else False,  # set in the configuration file
    )
    changed = await uow.services.upsert(service, now=now)
    if changed:
        await audit.record(
            uow,
            actor=actor,
            action="service.upsert",
            target=f"service:{name}",
            now=now,
            request_id=request_id,
            details={"team": team, "channel": channel, "repo": service.repo_url},
        )
    return service, changed


async def add_environment(
    uow: UnitOfWork,
    *,
    actor: Actor,
    name: str,
    production: bool,
    order: int | None,
    now: datetime,
    request_id: str | None,
) -> tuple[Environment, bool]:
    """Create or update an environment; a new one goes after the existing ones unless an order is given."""
    require(actor, Permission.MANAGE_CONFIG)
    existing = await uow.environments.get(name)
    if existing is not None:
        environment = existing
        environment.is_production = production or existing.is_production
        if order is not None:
            environment.order = order
    else:
        if order is None:
            others = await uow.environments.list()
            order = max((env.order for env in others), default=-1) + 1
        environment = Environment(name=name, order=order, is_production=production)
    changed = await uow.environments.upsert(environment, now=now)
    if changed:
        await audit.record(
            uow,
            actor=actor,
            action="environment.upsert",
            target=f"env:{name}",
            now=now,
            request_id=request_id,
            details={"production": environment.is_production, "order": environment.order},
        )
    return environment, changed


async def set_user_role(
    uow: UnitOfWork,
    *,
    actor: Actor,
    user_id: str,
    role: Role,
    now: datetime,
    request_id: str | None,
) -> bool:
    """Set a person's role; returns whether it changed."""
    require(actor, Permission.MANAGE_CONFIG)
    changed = await uow.users.set_role(user_id, role, now=now)
    if changed:
        await audit.record(
            uow,
            actor=actor,
            action="user.role",
            target=f"user:{user_id}",
            now=now,
            request_id=request_id,
            details={"role": role.value},
        )
    return changed

"""Where a service stands: per environment, the version running, whether the caller may deploy there now (and
every reason why not), and the approvals a deployment there needs.

The reasons are the deployment gates themselves, asked one by one instead of stopping at the first: the
caller's role, a lock held by someone else, a freeze, the promotion order of the policy (judged for the
service's latest release) and a deployment already in progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core import gates
from core.deployments import describe_active
from core.errors import PermissionDenied
from core.freezes import active_freeze, describe_freeze
from core.locks import blocking_lock, describe_lock
from core.model import Actor, Deployment, Environment, Release, Role, Service
from core.permissions import Permission, require, roles_with
from core.policies import describe_policy, may_approve
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import escape


@dataclass(frozen=True)
class Standing:
    """One environment as the caller sees it now."""

    environment: Environment
    current: Deployment | None  # the last successful deployment there
    reasons: list[str] = field(default_factory=list)  # why the caller may not deploy there now; empty: they may
    approvals: str = ""  # what the policy asks of a deployment there
    may_approve: bool = False

    @property
    def may_deploy(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class ServiceWhere:
    service: Service
    latest: Release | None
    standings: list[Standing]


def role_refusal(actor: Actor, environment: Environment) -> str | None:
    """Why the actor's role may not request a deployment to the environment (production needs its own
    permission), or None when it may."""
    needed = [Permission.DEPLOY, *([Permission.DEPLOY_PRODUCTION] if environment.is_production else [])]
    for permission in needed:
        try:
            require(actor, permission)
        except PermissionDenied as refused:
            allowed = " and ".join(f"{role.value}s" for role in roles_with(permission))
            return f"{refused.message} Only {allowed} may."
    return None


async def _reasons(
    uow: UnitOfWork, *, actor: Actor, service: Service, environment: Environment, latest: Release | None, now: datetime
) -> list[str]:
    reasons: list[str] = []
    refused = role_refusal(actor, environment)
    if refused:
        reasons.append(refused)
    lock = await blocking_lock(uow, actor_id=actor.user_id, service=service.name, environment=environment.name, now=now)
    if lock is not None:
        reasons.append(f"{escape(environment.name)} is {describe_lock(lock)}.")
    window = await active_freeze(uow, environment=environment.name, now=now)
    if window is not None:
        override = " You may override it: `--override-freeze <reason>`." if actor.role is Role.ADMIN else ""
        reasons.append(f"{escape(environment.name)} is {describe_freeze(window)}.{override}")
    if latest is not None:
        try:
            await gates.check_promotion(uow, service=service, release=latest, environment=environment)
        except gates.Blocked as blocked:
            reasons.append(blocked.message)
    active = await uow.deployments.active(service.name, environment.name)
    if active is not None:
        reasons.append(f"A deployment is in progress there: {describe_active(active)}.")
    return reasons


async def where_service(uow: UnitOfWork, *, actor: Actor, service: str, now: datetime) -> ServiceWhere:
    """Each environment in order with the version running there; reading it changes nothing, so anyone may."""
    require(actor, Permission.VIEW)
    svc = await find_service(uow, service)
    environments = sorted(await uow.environments.list(), key=lambda e: (e.order, e.name))
    current = {d.environment: d for d in await uow.deployments.current_versions(svc.name)}
    latest = await uow.history.latest_release(svc.name)
    standings = [
        Standing(
            environment=env,
            current=current.get(env.name),
            reasons=await _reasons(uow, actor=actor, service=svc, environment=env, latest=latest, now=now),
            approvals=describe_policy(env),
            may_approve=may_approve(actor, env),
        )
        for env in environments
    ]
    return ServiceWhere(service=svc, latest=latest, standings=standings)

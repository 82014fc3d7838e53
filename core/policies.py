"""Environment approval policies: who may approve, how many approvals, expiry, promotion order."""

from __future__ import annotations

from datetime import datetime

from core import audit
from core.deployments import find_environment
from core.errors import Invalid
from core.model import Actor, Environment, Role
from core.permissions import Permission, can, require
from core.ports import UnitOfWork
from core.text import escape, mention

MAX_APPROVALS = 10


def may_approve(actor: Actor, environment: Environment) -> bool:
    """An approver holds the approve permission and, when the policy names approvers, is one of them
    (by role or by Slack user id)."""
    if not can(actor, Permission.APPROVE):
        return False
    named = environment.policy.approvers
    if not named:
        return True
    return actor.role.value in named or actor.user_id in named


def describe_approvers(environment: Environment) -> str:
    named = environment.policy.approvers
    if not named:
        return "any admin or developer"
    parts = [f"{value}s" if value in {r.value for r in Role} else mention(value) for value in named]
    return ", ".join(parts)


def describe_policy(environment: Environment) -> str:
    policy = environment.policy
    if policy.approvals == 0:
        text = "no approval needed"
    else:
        hours = policy.expire_s / 3600
        text = (
            f"{policy.approvals} approval(s) by {describe_approvers(environment)}, expiring after "
            f"{hours:g} h; self-approval {'allowed (recorded as a bypass)' if policy.self_approval else 'not allowed'}"
        )
    if policy.requires_env:
        text += f"; the version must have succeeded in {escape(policy.requires_env)} first"
    return text


async def set_policy(
    uow: UnitOfWork,
    *,
    actor: Actor,
    environment: str,
    approvals: int,
    approvers: list[str] | None,
    expire_s: int | None,
    requires_env: str | None,
    self_approval: bool | None,
    now: datetime,
    request_id: str | None,
) -> Environment:
    """Admins set an environment's policy; unspecified parts keep their current value."""
    require(actor, Permission.MANAGE_CONFIG)
    env = await find_environment(uow, environment)
    if not 0 <= approvals <= MAX_APPROVALS:
        raise Invalid(f"{approvals} approvals is out of range: give 0 to {MAX_APPROVALS}.")
    if requires_env is not None:
        if requires_env == env.name:
            raise Invalid(f"{escape(env.name)} cannot require itself.")
        await find_environment(uow, requires_env)
    if expire_s is not None and not 60 <= expire_s <= 30 * 86400:
        raise Invalid("Approvals must expire after 1 minute to 30 days.", hint="For example `expire 24h`.")
    policy = env.policy
    policy.approvals = approvals
    if approvers is not None:
        policy.approvers = approvers
    if expire_s is not None:
        policy.expire_s = expire_s
    if requires_env is not None:
        policy.requires_env = requires_env or None
    if self_approval is not None:
        policy.self_approval = self_approval
    if await uow.environments.upsert(env, now=now):
        await audit.record(
            uow,
            actor=actor,
            action="policy.set",
            target=f"env:{env.name}",
            now=now,
            request_id=request_id,
            details=policy.to_dict(),
        )
    return env

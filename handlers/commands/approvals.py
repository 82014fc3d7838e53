"""approve, reject, pending, policy."""

from __future__ import annotations

from core import approvals, policies
from core.text import escape
from core.verbs import approvals as verbs
from handlers import blocks, cards
from handlers.context import CommandContext, Registry


def decision_reply(view: approvals.DeploymentView, verb: str) -> blocks.Rendered:
    d = view.deployment
    if d.status.value == "pending_approval":
        tail = f"{view.approvals_needed} approval(s) still needed."
    else:
        tail = f"it is now {cards.STATUS_WORDS[d.status]}."
    return blocks.reply(
        f"You {verb} {d.reference} ({escape(d.service)} `{escape(d.version)}` → {escape(d.environment)}); {tail}"
    )


async def approve(ctx: CommandContext, command: verbs.Approve) -> blocks.Rendered:
    view = await approvals.approve(
        ctx.uow, actor=ctx.actor, deployment_id=command.deployment_id, now=ctx.now, request_id=ctx.request_id
    )
    return decision_reply(view, "approved")


async def reject(ctx: CommandContext, command: verbs.Reject) -> blocks.Rendered:
    view = await approvals.reject(
        ctx.uow,
        actor=ctx.actor,
        deployment_id=command.deployment_id,
        reason=command.reason,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    return decision_reply(view, "rejected")


async def pending(ctx: CommandContext, _: verbs.Pending) -> blocks.Rendered:
    return cards.pending_list(await approvals.pending_for(ctx.uow, actor=ctx.actor, now=ctx.now))


async def policy(ctx: CommandContext, command: verbs.SetPolicy) -> blocks.Rendered:
    env = await policies.set_policy(
        ctx.uow,
        actor=ctx.actor,
        environment=command.environment,
        approvals=command.approvals,
        approvers=list(command.approvers) if command.approvers is not None else None,
        expire_s=command.expire_s,
        requires_env=command.requires_env,
        self_approval=command.self_approval,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    return blocks.reply(f"*{escape(env.name)}*: {policies.describe_policy(env)}.")


HANDLERS: Registry = {
    verbs.Approve: approve,
    verbs.Reject: reject,
    verbs.Pending: pending,
    verbs.SetPolicy: policy,
}

"""rollback, cancel, incident."""

from __future__ import annotations

from core import cancellations, incidents, rollbacks
from core.durations import format_duration
from core.locks import scope_text
from core.model import Deployment, DeploymentStatus
from core.text import channel_link, escape, mention
from core.verbs import rollbacks as verbs
from handlers import blocks, cards
from handlers.context import CommandContext, Registry


def _what(deployment: Deployment) -> str:
    return f"{escape(deployment.service)} `{escape(deployment.version)}` → {escape(deployment.environment)}"


def _status(deployment: Deployment) -> str:
    if deployment.status is DeploymentStatus.PENDING_APPROVAL:
        return "waiting for approval"
    return cards.STATUS_WORDS[deployment.status]


def rollback_reply(outcome: rollbacks.RollbackOutcome, channel: str) -> blocks.Rendered:
    new, rolled = outcome.deployment, outcome.rolled_back
    scope = scope_text(rolled.environment, rolled.service)
    text = (
        f":rewind: {new.reference} rolls back {scope} from `{escape(rolled.version)}` ({rolled.reference}) to "
        f"`{escape(new.version)}`: {_status(new)}. Release `{escape(rolled.version)}` is marked bad. "
        f"Posted in {channel_link(channel)}."
    )
    held = outcome.lock
    if held is not None and outcome.lock_created:
        unlock = f"`/release unlock {escape(held.environment)} {escape(held.service or '')}`"
        text += f"\n:lock: {held.reference}: {scope} is locked for you until you unlock it: {unlock}."
    elif held is not None:
        text += f"\n:lock: {scope} stays locked by {mention(held.owner)} ({held.reference})."
    return blocks.reply(text)


async def rollback(ctx: CommandContext, command: verbs.RollBack) -> blocks.Rendered:
    outcome = await rollbacks.roll_back(
        ctx.uow,
        actor=ctx.actor,
        service=command.service,
        environment=command.environment,
        to_version=command.to_version,
        reason=command.reason,
        lock=command.lock,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    service = await ctx.uow.services.get(outcome.deployment.service)
    return rollback_reply(outcome, service.slack_channel if service else "")


async def cancel(ctx: CommandContext, command: verbs.Cancel) -> blocks.Rendered:
    outcome = await cancellations.cancel_deployment(
        ctx.uow, actor=ctx.actor, deployment_id=command.deployment_id, now=ctx.now, request_id=ctx.request_id
    )
    deployment = outcome.deployment
    if outcome.immediate:
        return blocks.reply(f":heavy_multiplication_x: {deployment.reference} ({_what(deployment)}) is cancelled.")
    return blocks.reply(
        f":heavy_multiplication_x: Cancelling {deployment.reference} ({_what(deployment)}): stopping stage "
        f"*{escape(outcome.stage or '')}*. Its message says when it is done."
    )


async def open_incident(ctx: CommandContext, command: verbs.OpenIncident) -> blocks.Rendered:
    _, deployment = await incidents.open_incident(
        ctx.uow,
        actor=ctx.actor,
        deployment_id=command.deployment_id,
        note=command.note,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    return blocks.reply(
        f":fire: Incident attributed to {deployment.reference} ({_what(deployment)}), opened now. "
        f"`/release incident resolve {deployment.reference}` when it is over."
    )


async def resolve_incident(ctx: CommandContext, command: verbs.ResolveIncident) -> blocks.Rendered:
    incident, deployment = await incidents.resolve_incident(
        ctx.uow, actor=ctx.actor, deployment_id=command.deployment_id, now=ctx.now, request_id=ctx.request_id
    )
    assert incident.resolved_at is not None
    restored = format_duration(max(1, int((incident.resolved_at - incident.opened_at).total_seconds())))
    return blocks.reply(
        f":white_check_mark: The incident on {deployment.reference} ({_what(deployment)}) is resolved, {restored} "
        "after it was opened."
    )


HANDLERS: Registry = {
    verbs.RollBack: rollback,
    verbs.Cancel: cancel,
    verbs.OpenIncident: open_incident,
    verbs.ResolveIncident: resolve_incident,
}

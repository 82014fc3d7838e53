"""help, create, deploy, status."""

from __future__ import annotations

from core import deployment_views, deployments, grammar, releases
from core.permissions import can
from core.verbs import releases as verbs
from handlers import blocks
from handlers.context import CommandContext, Registry


async def show_help(ctx: CommandContext, _: verbs.Help) -> blocks.Rendered:
    allowed = [verb for verb in grammar.VERBS.values() if can(ctx.actor, verb.permission)]
    return blocks.help_text(allowed, ctx.actor.role.value)


async def create(ctx: CommandContext, command: verbs.CreateRelease) -> blocks.Rendered:
    release = await releases.create_release(
        ctx.uow,
        actor=ctx.actor,
        service=command.service,
        version=command.version,
        commit=command.commit,
        notes=command.notes,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    return blocks.release_created(release)


async def deploy(ctx: CommandContext, command: verbs.Deploy) -> blocks.Rendered:
    outcome = await deployments.request_deployment(
        ctx.uow,
        actor=ctx.actor,
        service=command.service,
        version=command.version,
        environment=command.environment,
        now=ctx.now,
        request_id=ctx.request_id,
        override_freeze=command.override_freeze,
        override_bad=command.override_bad,
    )
    service = await ctx.uow.services.get(command.service)
    channel = service.slack_channel if service else ""
    return blocks.deployment_requested(outcome.deployment, outcome.previous_version, channel)


async def status(ctx: CommandContext, command: verbs.Status) -> blocks.Rendered:
    environments, statuses = await deployment_views.status(ctx.uow, actor=ctx.actor, service=command.service)
    return blocks.status_table(environments, statuses)


HANDLERS: Registry = {
    verbs.Help: show_help,
    verbs.CreateRelease: create,
    verbs.Deploy: deploy,
    verbs.Status: status,
}

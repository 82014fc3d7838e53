"""help, create, deploy, status."""

from __future__ import annotations

from core import deployment_views, grammar, preview, releases
from core.permissions import can
from core.text import escape
from core.verbs import releases as verbs
from handlers import blocks, create_modal, deploy_modal, preview_blocks
from handlers.context import CommandContext, Registry
from handlers.forms import FormRegistry


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
    if command.dry_run:
        return await dry_run(ctx, command)
    return await deploy_modal.request(
        ctx,
        service=command.service,
        version=command.version,
        environment=command.environment,
        override_freeze=command.override_freeze,
        override_bad=command.override_bad,
    )


async def dry_run(ctx: CommandContext, command: verbs.Deploy) -> blocks.Rendered:
    """``--dry-run``: the preview, with a Confirm button that makes the request (this command's id is its
    token: every click on it makes one request)."""
    found = await preview.preview_deployment(
        ctx.uow,
        actor=ctx.actor,
        service=command.service,
        version=command.version,
        environment=command.environment,
        now=ctx.now,
        override_freeze=command.override_freeze,
        override_bad=command.override_bad,
    )
    return preview_blocks.preview_message(found, token=ctx.request_id)


async def form_by_text(_: CommandContext, command: verbs.DeployForm | verbs.CreateForm) -> blocks.Rendered:
    """Where no form can open (the console, or a command without a trigger): say what to type."""
    usage = verbs.CREATE if isinstance(command, verbs.CreateForm) else verbs.DEPLOY
    return blocks.reply(f"The form opens in Slack only. Here, type `{escape(usage)}`.")


async def status(ctx: CommandContext, command: verbs.Status) -> blocks.Rendered:
    environments, statuses = await deployment_views.status(ctx.uow, actor=ctx.actor, service=command.service)
    return blocks.status_table(environments, statuses)


HANDLERS: Registry = {
    verbs.Help: show_help,
    verbs.CreateRelease: create,
    verbs.Deploy: deploy,
    verbs.DeployForm: form_by_text,
    verbs.CreateForm: form_by_text,
    verbs.Status: status,
}

FORMS: FormRegistry = {
    verbs.DeployForm: deploy_modal.open_deploy_form,
    verbs.CreateForm: create_modal.open_create_form,
}

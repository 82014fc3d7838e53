"""team add, service add, env add, user ... role."""

from __future__ import annotations

from core import configuration
from core.text import channel_link, escape, mention
from core.verbs import configuration as verbs
from handlers import blocks
from handlers.context import CommandContext, Registry


def _saved(changed: bool) -> str:
    return "Saved" if changed else "Nothing to change for"


async def team_add(ctx: CommandContext, command: verbs.TeamAdd) -> blocks.Rendered:
    team, changed = await configuration.add_team(
        ctx.uow,
        actor=ctx.actor,
        name=command.name,
        channel=command.channel,
        timezone=command.timezone,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    where = f", channel {channel_link(team.slack_channel)}" if team.slack_channel else ""
    return blocks.reply(f"{_saved(changed)} team *{escape(team.name)}*{where}, time zone {escape(team.timezone)}.")


async def service_add(ctx: CommandContext, command: verbs.ServiceAdd) -> blocks.Rendered:
    service, changed = await configuration.add_service(
        ctx.uow,
        actor=ctx.actor,
        name=command.name,
        team=command.team,
        channel=command.channel,
        repo=command.repo,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    return blocks.reply(
        f"{_saved(changed)} service *{escape(service.name)}* (team {escape(service.team)}); its messages go to "
        f"{channel_link(service.slack_channel)}."
    )


async def env_add(ctx: CommandContext, command: verbs.EnvAdd) -> blocks.Rendered:
    env, changed = await configuration.add_environment(
        ctx.uow,
        actor=ctx.actor,
        name=command.name,
        production=command.production,
        order=command.order,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    kind = "production" if env.is_production else "non-production"
    return blocks.reply(f"{_saved(changed)} environment *{escape(env.name)}* ({kind}, order {env.order}).")


async def user_role(ctx: CommandContext, command: verbs.UserRole) -> blocks.Rendered:
    changed = await configuration.set_user_role(
        ctx.uow,
        actor=ctx.actor,
        user_id=command.user_id,
        role=command.role,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    verb = "is now" if changed else "already is"
    article = "an" if command.role.value[0] in "aeiou" else "a"
    return blocks.reply(f"{mention(command.user_id)} {verb} {article} {command.role.value}.")


HANDLERS: Registry = {
    verbs.TeamAdd: team_add,
    verbs.ServiceAdd: service_add,
    verbs.EnvAdd: env_add,
    verbs.UserRole: user_role,
}

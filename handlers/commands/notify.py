"""notify: notification settings of a service's channel and of one's own direct messages."""

from __future__ import annotations

from core import notify_prefs
from core.model import Service
from core.text import channel_link, escape
from core.verbs import notify as verbs
from handlers import blocks
from handlers.context import CommandContext, Registry

MAX_LISTED = 40


def _switch(on: bool) -> str:
    return "*on*" if on else "*off*"


def direct_messages_line(prefs: dict[str, bool]) -> str:
    parts = [f"{notify_prefs.PREF_MEANING[key]}: {_switch(prefs[key])} (`{key}`)" for key in notify_prefs.PREF_DEFAULTS]
    return "Direct messages: " + "; ".join(parts) + "."


def service_line(service: Service) -> str:
    level = notify_prefs.level_of(service)
    return (
        f"• *{escape(service.name)}* in {channel_link(service.slack_channel)}: `{level.value}` "
        f"({notify_prefs.LEVEL_MEANING[level]})"
    )


async def show(ctx: CommandContext, _: verbs.ShowNotify) -> blocks.Rendered:
    settings = await notify_prefs.settings_for(ctx.uow, actor=ctx.actor)
    lines = ["*Your notifications*", direct_messages_line(settings.prefs)]
    if settings.services:
        lines.append(f"Channels of team {escape(settings.team)}:" if settings.team else "Channels:")
        lines += [service_line(service) for service in settings.services[:MAX_LISTED]]
        if len(settings.services) > MAX_LISTED:
            lines.append(f"…and {len(settings.services) - MAX_LISTED} more.")
    lines.append(f"Change them: `{verbs.NOTIFY_ME}`, `{verbs.NOTIFY_SERVICE}`.")
    return blocks.reply("\n".join(lines))


async def set_mine(ctx: CommandContext, command: verbs.SetMyNotify) -> blocks.Rendered:
    changed = await notify_prefs.set_my_pref(
        ctx.uow,
        actor=ctx.actor,
        pref=command.pref,
        on=command.on,
        role_if_new=ctx.deps.default_role,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    meaning = notify_prefs.PREF_MEANING[command.pref]
    icon = ":bell:" if command.on else ":no_bell:"
    if not changed:
        return blocks.reply(f"{icon} Direct messages for {meaning} were already {_switch(command.on)}.")
    return blocks.reply(f"{icon} Direct messages for {meaning} are now {_switch(command.on)}.")


async def set_service(ctx: CommandContext, command: verbs.SetServiceNotify) -> blocks.Rendered:
    service, before, changed = await notify_prefs.set_service_level(
        ctx.uow, actor=ctx.actor, service=command.service, level=command.level, now=ctx.now, request_id=ctx.request_id
    )
    meaning = notify_prefs.LEVEL_MEANING[command.level]
    where = f"*{escape(service.name)}* in {channel_link(service.slack_channel)}"
    if not changed:
        return blocks.reply(f":bell: {where} already posts {meaning} (`{command.level.value}`).")
    return blocks.reply(f":bell: {where} now posts {meaning} (`{command.level.value}`, was `{before.value}`).")


HANDLERS: Registry = {
    verbs.ShowNotify: show,
    verbs.SetMyNotify: set_mine,
    verbs.SetServiceNotify: set_service,
}

"""history, where."""

from __future__ import annotations

from core import history, where
from core.verbs import history as verbs
from handlers import blocks, history_blocks
from handlers.context import CommandContext, Registry


async def show_history(ctx: CommandContext, command: verbs.History) -> blocks.Rendered:
    found = await history.service_history(
        ctx.uow, actor=ctx.actor, service=command.service, environment=command.environment, limit=command.limit
    )
    return history_blocks.history(found, ctx.now)


async def show_where(ctx: CommandContext, command: verbs.Where) -> blocks.Rendered:
    found = await where.where_service(ctx.uow, actor=ctx.actor, service=command.service, now=ctx.now)
    return history_blocks.where(found)


HANDLERS: Registry = {
    verbs.History: show_history,
    verbs.Where: show_where,
}

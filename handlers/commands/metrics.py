"""metrics."""

from __future__ import annotations

from core.metrics_report import metrics_report
from core.verbs import metrics as verbs
from handlers import blocks, metrics_blocks
from handlers.context import CommandContext, Registry


async def show_metrics(ctx: CommandContext, command: verbs.ShowMetrics) -> blocks.Rendered:
    report = await metrics_report(
        ctx.uow,
        actor=ctx.actor,
        scope=command.scope,
        name=command.name,
        days=command.days,
        now=ctx.now,
        org_timezone=ctx.deps.timezone,
    )
    return metrics_blocks.metrics_reply(report)


HANDLERS: Registry = {verbs.ShowMetrics: show_metrics}

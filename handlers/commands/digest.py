"""digest preview."""

from __future__ import annotations

from core import digests
from core.verbs import digest as verbs
from handlers import blocks, digest_blocks
from handlers.context import CommandContext, Registry


async def preview(ctx: CommandContext, command: verbs.PreviewDigest) -> blocks.Rendered:
    shown = await digests.preview_digest(ctx.uow, actor=ctx.actor, team=command.team, now=ctx.now)
    team = shown.team
    return digest_blocks.preview(
        shown.payload, channel=team.slack_channel, day=team.digest_day, time_of_day=team.digest_time, tz=team.timezone
    )


HANDLERS: Registry = {
    verbs.PreviewDigest: preview,
}

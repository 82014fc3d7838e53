"""audit, audit export."""

from __future__ import annotations

import asyncio

import aiohttp
import structlog
from slack_sdk.errors import SlackClientError

from core import audit_log
from core.errors import ReleasebotError
from core.verbs import audit as verbs
from handlers import audit_blocks, blocks
from handlers.context import CommandContext, Registry

log = structlog.get_logger(__name__)

# What a failed delivery to Slack can raise once the client's own retries are spent.
SLACK_FAILURES = (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)


async def audit_list(ctx: CommandContext, command: verbs.AuditList) -> blocks.Rendered:
    where = command.where(ctx.now)
    limit = command.limit or audit_log.LIST_DEFAULT
    entries = await audit_log.recent_entries(ctx.uow, actor=ctx.actor, where=where, limit=limit)
    return audit_blocks.listing(entries, where)


async def audit_export(ctx: CommandContext, command: verbs.AuditExport) -> blocks.Rendered:
    export = await audit_log.export_entries(
        ctx.uow,
        actor=ctx.actor,
        where=command.where(ctx.now),
        limit=command.limit,
        now=ctx.now,
        request_id=ctx.request_id,
    )

    async def deliver() -> blocks.Rendered:
        await send_export(ctx, export)
        return blocks.reply(exported_text(export))

    # The upload waits for the commit: the log shows the export before the file leaves.
    ctx.after_commit(deliver)
    return blocks.reply(exported_text(export))


def exported_text(export: audit_log.AuditExport) -> str:
    noun = "entry" if export.count == 1 else "entries"
    if export.truncated:
        return (
            f"Exported the newest {export.count} {noun} (more match: narrow it down with `since` or `limit`); "
            "the CSV is in your DMs."
        )
    return f"Exported {export.count} {noun}; the CSV is in your DMs."


async def send_export(ctx: CommandContext, export: audit_log.AuditExport) -> None:
    """Upload the CSV to the requester's DM (files upload v2); a failure is audited and explained."""
    try:
        if ctx.deps.slack is None:
            raise SlackClientError("no Slack client is configured")
        opened = await ctx.deps.slack.conversations_open(users=ctx.actor.user_id)
        await ctx.deps.slack.files_upload_v2(
            content=export.content,
            filename=export.filename,
            title="releasebot audit log export",
            channel=str(opened["channel"]["id"]),
            initial_comment=(
                f"The audit log export you asked for: {export.count} "
                f"{'entry' if export.count == 1 else 'entries'}, SHA-256 `{export.sha256}`."
            ),
        )
    except SLACK_FAILURES as error:
        log.warning("audit export not delivered", error=repr(error), request_id=ctx.request_id)
        async with ctx.deps.uow() as uow:
            await audit_log.record_export_failure(
                uow, actor=ctx.actor, export=export, error=repr(error), now=ctx.deps.clock(), request_id=ctx.request_id
            )
            await uow.commit()
        raise ReleasebotError(
            "I couldn't send the CSV to your DMs (Slack refused or did not answer); the attempt is in the audit log.",
            hint="Try again in a minute.",
        ) from None


HANDLERS: Registry = {
    verbs.AuditList: audit_list,
    verbs.AuditExport: audit_export,
}

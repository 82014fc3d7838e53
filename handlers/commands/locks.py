"""lock, unlock, locks, freeze, freezes, unfreeze."""

from __future__ import annotations

from datetime import datetime, timedelta

from core import freezes, locks
from core.durations import format_duration
from core.locks import scope_text
from core.model import FreezeWindow, Lock
from core.text import escape, mention, truncate
from core.verbs import locks as verbs
from handlers import blocks
from handlers.context import CommandContext, Registry

MAX_LISTED = 45


def _reason(reason: str | None) -> str:
    return f"\n>{escape(truncate(reason, 500))}" if reason else ""


def _unlock_command(lock: Lock) -> str:
    service = f" {escape(lock.service)}" if lock.service else ""
    return f"`/release unlock {escape(lock.environment)}{service}`"


def _listing(title: str, lines: list[str], empty: str) -> blocks.Rendered:
    if not lines:
        return blocks.reply(empty)
    shown = [blocks.section(title), *(blocks.section(line) for line in lines[:MAX_LISTED])]
    if len(lines) > MAX_LISTED:
        shown.append(blocks.context(f"…and {len(lines) - MAX_LISTED} more."))
    return "\n".join([title, *lines]), shown


async def lock(ctx: CommandContext, command: verbs.LockScope) -> blocks.Rendered:
    held = await locks.lock_scope(
        ctx.uow,
        actor=ctx.actor,
        environment=command.environment,
        service=command.service,
        duration_s=command.duration_s,
        reason=command.reason,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    scope = scope_text(held.environment, held.service)
    if held.expires_at is None:
        until = f"until you unlock it: {_unlock_command(held)}"
    else:
        until = f"until {blocks.slack_time(held.expires_at)}; {_unlock_command(held)} releases it sooner"
    return blocks.reply(f":lock: {held.reference}: {scope} is locked for you {until}.{_reason(held.reason)}")


async def unlock(ctx: CommandContext, command: verbs.UnlockScope) -> blocks.Rendered:
    released, broken = await locks.unlock_scope(
        ctx.uow,
        actor=ctx.actor,
        environment=command.environment,
        service=command.service,
        force_reason=command.reason if command.force else None,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    scope = scope_text(released.environment, released.service)
    if broken:
        return blocks.reply(
            f":unlock: You broke {mention(released.owner)}'s lock on {scope} ({released.reference}). "
            "They and the channel are told; the audit log keeps your reason."
        )
    return blocks.reply(f":unlock: {scope} is unlocked ({released.reference}).")


def _lock_line(held: Lock) -> str:
    until = blocks.slack_time(held.expires_at) if held.expires_at else "unlocked"
    reason = f": {escape(truncate(held.reason, 300))}" if held.reason else ""
    scope = scope_text(held.environment, held.service)
    return f"• {held.reference} {scope}: {mention(held.owner)} until {until}{reason}"


async def list_locks(ctx: CommandContext, _: verbs.ListLocks) -> blocks.Rendered:
    held = await locks.list_locks(ctx.uow, actor=ctx.actor, now=ctx.now)
    return _listing("*Locks held now*", [_lock_line(item) for item in held], "Nothing is locked.")


async def freeze(ctx: CommandContext, command: verbs.FreezeEnvironment) -> blocks.Rendered:
    created = await freezes.freeze_environment(
        ctx.uow,
        actor=ctx.actor,
        environment=command.environment,
        starts_at=command.starts_at,
        ends_at=command.ends_at or (command.starts_at or ctx.now) + timedelta(seconds=command.duration_s or 0),
        reason=command.reason,
        now=ctx.now,
        request_id=ctx.request_id,
    )
    assert created.starts_at is not None and created.ends_at is not None
    start = "now" if created.starts_at <= ctx.now else blocks.slack_time(created.starts_at)
    return blocks.reply(
        f":snowflake: {created.reference}: *{escape(created.environment)}* is frozen from {start} until "
        f"{blocks.slack_time(created.ends_at)}. `/release unfreeze {created.reference}` lifts it."
        f"{_reason(created.reason)}"
    )


def _freeze_line(window: FreezeWindow, now: datetime) -> str:
    item = window.freeze
    start = "now" if window.starts_at <= now else f"from {blocks.slack_time(window.starts_at)}"
    recurring = ""
    if item.cron:
        every = format_duration(item.duration_s or 0)
        recurring = f" (recurring: `{escape(item.cron)}` for {every}, {escape(item.timezone or 'UTC')})"
    reason = f": {escape(truncate(item.reason, 300))}" if item.reason else ""
    return (
        f"• {item.reference} *{escape(item.environment)}*: {start} until {blocks.slack_time(window.ends_at)}"
        f"{recurring}{reason}"
    )


async def list_freezes(ctx: CommandContext, _: verbs.ListFreezes) -> blocks.Rendered:
    windows = await freezes.list_freezes(ctx.uow, actor=ctx.actor, now=ctx.now)
    lines = [_freeze_line(window, ctx.now) for window in windows]
    return _listing("*Freezes, now and coming up*", lines, "No freezes now or coming up.")


async def unfreeze(ctx: CommandContext, command: verbs.Unfreeze) -> blocks.Rendered:
    cancelled = await freezes.unfreeze(
        ctx.uow, actor=ctx.actor, freeze_id=command.freeze_id, now=ctx.now, request_id=ctx.request_id
    )
    return blocks.reply(
        f":sunny: {cancelled.reference} cancelled: *{escape(cancelled.environment)}* is no longer frozen by it."
    )


HANDLERS: Registry = {
    verbs.LockScope: lock,
    verbs.UnlockScope: unlock,
    verbs.ListLocks: list_locks,
    verbs.FreezeEnvironment: freeze,
    verbs.ListFreezes: list_freezes,
    verbs.Unfreeze: unfreeze,
}

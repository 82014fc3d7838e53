"""Short notices about locks, freezes and incidents, rendered from the data stored with each outbox notification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.durations import format_duration
from core.locks import scope_text
from core.text import escape, mention
from handlers.blocks import Rendered, section, slack_time


def _time(data: dict[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    return datetime.fromisoformat(str(value)) if value else None


def _reason(value: Any) -> str:
    return f": {escape(str(value))}" if value else "."


def _unlock_command(data: dict[str, Any]) -> str:
    service = f" {escape(str(data['service']))}" if data.get("service") else ""
    return f"`/release unlock {escape(str(data['environment']))}{service}`"


def _notice(text: str) -> Rendered:
    return text, [section(text)]


def lock_notice(data: dict[str, Any]) -> Rendered:
    """In the affected channels: a lock taken, released, broken or expired."""
    scope = scope_text(str(data["environment"]), data.get("service"))
    owner = mention(str(data["owner"]))
    event = data.get("event")
    if event == "locked":
        expires = _time(data, "expires_at")
        until = f"until {slack_time(expires)}" if expires else "until they unlock it"
        return _notice(f":lock: {owner} locked {scope} {until}{_reason(data.get('reason'))}")
    if event == "broken":
        by = mention(str(data.get("by", "")))
        return _notice(f":warning: {by} broke {owner}'s lock on {scope}{_reason(data.get('break_reason'))}")
    if event == "expired":
        return _notice(f":unlock: {owner}'s lock on {scope} expired.")
    return _notice(f":unlock: {owner} unlocked {scope}.")


def lock_direct(data: dict[str, Any]) -> Rendered:
    """To the owner: the reminder before expiry, the expiry itself, or an admin breaking the lock."""
    scope = scope_text(str(data["environment"]), data.get("service"))
    event = data.get("event")
    if event == "reminder":
        expires = _time(data, "expires_at")
        when = slack_time(expires) if expires else "soon"
        return _notice(
            f":alarm_clock: Your lock on {scope} ends {when}. {_unlock_command(data)} releases it now if you are done."
        )
    if event == "broken":
        by = mention(str(data.get("by", "")))
        return _notice(f":warning: {by} broke your lock on {scope}{_reason(data.get('break_reason'))}")
    return _notice(f":unlock: Your lock on {scope} expired and was released.")


def freeze_notice(data: dict[str, Any]) -> Rendered:
    """In every team's channel: a freeze declared or cancelled."""
    environment = escape(str(data["environment"]))
    by = mention(str(data.get("by", "")))
    if data.get("event") == "unfrozen":
        return _notice(f":sunny: {by} cancelled {data['reference']}: *{environment}* is no longer frozen by it.")
    starts, ends = _time(data, "starts_at"), _time(data, "ends_at")
    assert starts is not None and ends is not None
    return _notice(
        f":snowflake: {by} froze *{environment}* from {slack_time(starts)} until {slack_time(ends)} "
        f"({data['reference']}){_reason(data.get('reason'))}"
    )


def incident_notice(data: dict[str, Any]) -> Rendered:
    """In the service's channel: an incident attributed to a deployment, or resolved."""
    what = (
        f"{data['reference']} (*{escape(str(data['service']))}* `{escape(str(data['version']))}` in "
        f"*{escape(str(data['environment']))}*)"
    )
    by = mention(str(data.get("by", "")))
    if data.get("event") == "resolved":
        restored = format_duration(max(1, int(data.get("restored_s") or 0)))
        return _notice(f":white_check_mark: {by} resolved the incident on {what}, {restored} after it was opened.")
    return _notice(f":fire: {by} attributed an incident to {what}{_reason(data.get('note'))}")

"""Text helpers: mrkdwn escaping, short references, Slack mention parsing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from core.errors import Invalid

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

MAX_TEXT = 2000


def escape(text: str) -> str:
    """Escape user text for mrkdwn so it can never form ``<!channel>``, a mention or a link."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>`` in slash-command text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_REF = re.compile(r"^(?P<prefix>[A-Za-z]+)-(?P<num>\d{1,12})$")


def parse_reference(text: str, prefix: str) -> int:
    """``D-42`` -> 42 for prefix ``D`` (case-insensitive); a bare number is accepted too."""
    value = text.strip()
    if value.isdigit() and len(value) <= 12:
        return int(value)
    match = _REF.match(value)
    if not match or match.group("prefix").upper() != prefix.upper():
        raise Invalid(
            f"`{escape(value)}` is not a {prefix} reference.",
            hint=f"References look like `{prefix}-42`.",
        )
    return int(match.group("num"))


def reference(prefix: str, number: int | None) -> str:
    return f"{prefix}-{number}"


_CHANNEL = re.compile(r"^<#(?P<id>[CGD][A-Z0-9]{2,30})(?:\|(?P<name>[^>]*))?>$")
_USER = re.compile(r"^<@(?P<id>[UW][A-Z0-9]{2,30})(?:\|(?P<name>[^>]*))?>$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,30}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,30}$")
_CHANNEL_NAME = re.compile(r"^#?[a-z0-9][a-z0-9._-]{0,79}$")


def parse_channel(token: str) -> str:
    """A channel as ``<#C123|name>``, ``<#C123>``, ``C123``, ``#name`` or ``name``: returns the id or name."""
    value = token.strip()
    match = _CHANNEL.match(value)
    if match:
        return match.group("id")
    if _CHANNEL_ID.match(value):
        return value
    if _CHANNEL_NAME.match(value):
        return value.lstrip("#")
    raise Invalid(
        f"`{escape(value)}` is not a channel.",
        hint="Name a channel as #channel-name (pick it from Slack's autocomplete) or by its id, like C0123ABCD.",
    )


def parse_user(token: str) -> str:
    """A user as ``<@U123|name>``, ``<@U123>`` or ``U123``: returns the Slack user id."""
    value = token.strip()
    match = _USER.match(value)
    if match:
        return match.group("id")
    if _USER_ID.match(value):
        return value
    raise Invalid(
        f"`{escape(value)}` is not a Slack user.",
        hint="Mention the person, like @alice (pick them from Slack's autocomplete), or give their id, like U0123ABCD.",
    )


def mention(user_id: str) -> str:
    if _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(user_id)


def channel_link(channel: str) -> str:
    if _CHANNEL_ID.match(channel):
        return f"<#{channel}>"
    return f"#{escape(channel)}"


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def slack_date(value: datetime) -> str:
    """A date Slack shows in the reader's own time zone, with a UTC fallback."""
    epoch = int(value.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{value.strftime('%Y-%m-%d %H:%M UTC')}>"


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clock_time(value: datetime, since: datetime) -> str:
    """A moment in UTC, as short as ``since`` allows: ``18:00 UTC`` the same day, ``Mon 09:00 UTC`` within
    the week after, ``Mon 23 Nov 2026 09:00 UTC`` otherwise."""
    value, since = value.astimezone(UTC), since.astimezone(UTC)
    hour = f"{value:%H:%M} UTC"
    if value.date() == since.date():
        return hour
    weekday = _WEEKDAYS[value.weekday()]
    if timedelta(0) < value - since < timedelta(days=6):
        return f"{weekday} {hour}"
    return f"{weekday} {value.day} {_MONTHS[value.month - 1]} {value.year} {hour}"

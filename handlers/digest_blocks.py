"""The weekly DORA digest as Block Kit, rendered from the digest's content (``core.digest.compose``), whose
texts are already escaped mrkdwn."""

from __future__ import annotations

from typing import Any

from core.digest import NO_BAND, figure_text, service_table
from core.text import channel_link, escape
from handlers.blocks import Block, Rendered, context, header, section

DAYS = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


def _key(item: dict[str, Any], table: str) -> str:
    band = ""
    if item.get("band") == NO_BAND:
        band = f" · {NO_BAND}: under 4 weeks of history"
    elif item.get("band"):
        band = f" · band *{item['band']}* ({escape(table)})"
    line = f"*{item['title']}*: {item['value']}{band}"
    before = f"Week before: {figure_text(item['previous'])}"
    if item.get("restated"):
        before += f" · restated: {figure_text(item['restated'])}"
    return f"{line}\n{before}"


def _listing(title: str, lines: list[str], more: int, empty: str) -> str:
    if not lines:
        return f"*{title}*\n{empty}"
    text = "\n".join([f"*{title}*", *(f"• {line}" for line in lines)])
    return text + (f"\n…and {more} more." if more else "")


def digest_blocks(data: dict[str, Any]) -> list[Block]:
    table = str(data.get("band_table", ""))
    found: list[Block] = [header(str(data["title"])), context(str(data["subtitle"]))]
    found += [section(_key(item, table)) for item in data["keys"]]
    services = data.get("services")
    if services is not None:
        if services["rows"]:
            more = f"\n…and {services['more']} more services." if services["more"] else ""
            found.append(section(f"*By service*\n```{service_table(services)}```{more}"))
        else:
            found.append(section("*By service*\nThe team has no services."))
    failures = data["failures"]
    found.append(section(_listing("Failures and rollbacks", failures["lines"], failures["more"], "None this week.")))
    open_failures = data["open_failures"]
    summary = f"*Open failures*\n{open_failures['summary']}"
    if open_failures["lines"]:
        summary += "\n" + "\n".join(f"• {line}" for line in open_failures["lines"])
        summary += f"\n…and {open_failures['more']} more." if open_failures["more"] else ""
    found.append(section(summary))
    slowest = "No release reached production this week."
    found.append(section(_listing("Slowest lead times", data["slowest"], 0, slowest)))
    found.append(context(*data["notes"]))
    return found


def digest_text(data: dict[str, Any]) -> str:
    """The notification's plain fallback: the title, the week and the four keys."""
    keys = [f"{item['title']}: {item['value']}" for item in data["keys"]]
    return "\n".join([escape(str(data["title"])), str(data["subtitle"]), *keys])


def digest_message(data: dict[str, Any]) -> Rendered:
    """The digest as posted in a channel (the outbox renderer of ``core.digest.KIND``)."""
    return digest_text(data), digest_blocks(data)


def schedule_text(day: str, time_of_day: str, tz: str) -> str:
    return f"every {DAYS.get(day, escape(day))} at {escape(time_of_day)} ({escape(tz)})"


def preview(data: dict[str, Any], *, channel: str | None, day: str, time_of_day: str, tz: str) -> Rendered:
    """The digest shown only to the person who asked: nothing is posted or stored."""
    when = schedule_text(day, time_of_day, tz)
    where = (
        f"It is posted in {channel_link(channel)} {when}."
        if channel
        else f"The team has no channel, so its digest is not posted (it would be {when})."
    )
    note = f":eyes: Preview, only for you: nothing was posted or stored. {where}"
    return f"Preview: {digest_text(data)}", [context(note), *digest_blocks(data)]

"""Durations written the way people write them: ``90m``, ``24h``, ``2d``, ``1h30m``."""

from __future__ import annotations

import re

from core.errors import Invalid
from core.text import escape, truncate

UNITS: dict[str, int] = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}

_DURATION = re.compile(r"^(?:\d{1,9}\s*[wdhms]\s*)+$")
_PART = re.compile(r"(\d{1,9})\s*([wdhms])")
_EXAMPLES = "like `90m`, `24h` or `2d` (units: s, m, h, d, w)"


def parse_duration(text: str) -> int:
    """``90m`` -> 5400: whole numbers each followed by a unit (s, m, h, d, w), summed; case-insensitive.

    A bare number is refused rather than guessed at: ``600`` could mean seconds or minutes.
    """
    value = text.strip().lower()
    if not value:
        raise Invalid(f"A duration is needed, {_EXAMPLES}.")
    if value.isdigit():
        raise Invalid(f"`{escape(truncate(value, 12))}` has no unit: write it {_EXAMPLES}.")
    if not _DURATION.match(value):
        raise Invalid(f"`{escape(truncate(text.strip(), 40))}` is not a duration: write it {_EXAMPLES}.")
    return sum(int(number) * UNITS[unit] for number, unit in _PART.findall(value))


def format_duration(seconds: int) -> str:
    """5400 -> ``1h30m``: the shortest form :func:`parse_duration` reads back to the same number."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)

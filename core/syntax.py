"""Building blocks of the ``/release`` grammar: tokens, a cursor with precise errors, value parsers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ReleasebotError, UsageError
from core.permissions import Permission
from core.text import escape, parse_channel, parse_user, truncate

MAX_TEXT = 2000
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
SHA_RE = re.compile(r"^[0-9a-fA-F]{7,64}$")
URL_RE = re.compile(r"^https?://[^\s<>|]{1,490}$")


@dataclass(frozen=True)
class Command:
    """Base of every parsed command."""


@dataclass(frozen=True)
class Verb:
    name: str
    usage: str
    summary: str
    permission: Permission
    parse: Callable[[list[str]], Command]
    examples: list[str] = field(default_factory=list)


_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def tokenize(text: str) -> list[str]:
    """Split on whitespace; double quotes group words ("like this"); Slack's smart quotes count too."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = False
    had_quote = False
    for ch in text.translate(_QUOTES):
        if ch == '"':
            quoted = not quoted
            had_quote = True
            continue
        if ch.isspace() and not quoted:
            if current or had_quote:
                tokens.append("".join(current))
            current, had_quote = [], False
            continue
        current.append(ch)
    if quoted:
        raise UsageError("A quote was opened but never closed.", hint='Close it: notes "like this".')
    if current or had_quote:
        tokens.append("".join(current))
    return tokens


def shown(token: str) -> str:
    """User text quoted back in a message: escaped and shortened."""
    return f"`{escape(truncate(token, 60))}`"


class Args:
    """A cursor over one verb's tokens that produces precise usage errors."""

    def __init__(self, tokens: list[str], usage: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.usage = usage

    def fail(self, message: str) -> UsageError:
        return UsageError(message, hint=f"Usage: `{self.usage}`")

    def take(self, what: str) -> str:
        if self.pos >= len(self.tokens):
            raise self.fail(f"Missing {what}.")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def more(self) -> bool:
        return self.pos < len(self.tokens)

    def expect(self, keyword: str, what: str | None = None) -> None:
        token = self.take(what or f"`{keyword}`")
        if token.lower() != keyword:
            raise self.fail(f"Expected `{keyword}`, got {shown(token)}.")

    def rest(self, what: str, limit: int = MAX_TEXT) -> str:
        if self.pos >= len(self.tokens):
            raise self.fail(f"Missing {what}.")
        text = " ".join(self.tokens[self.pos :])
        self.pos = len(self.tokens)
        if len(text) > limit:
            raise self.fail(f"The {what} is {len(text)} characters long; the limit is {limit}.")
        return text

    def done(self) -> None:
        if self.pos < len(self.tokens):
            raise self.fail(f"Unexpected {shown(self.tokens[self.pos])}.")

    def flag(self, name: str) -> bool:
        """Remove a ``--flag`` wherever it appears."""
        lowered = [t.lower() for t in self.tokens]
        if name not in lowered:
            return False
        self.tokens = [t for t in self.tokens if t.lower() != name]
        return True

    def keyword_options(self, names: set[str], rest_names: frozenset[str] | set[str] = frozenset()) -> dict[str, str]:
        """``key value`` pairs in any order; a key in ``rest_names`` takes the rest of the line."""
        found: dict[str, str] = {}
        while (token := self.peek()) is not None:
            key = token.lower()
            if key not in names and key not in rest_names:
                raise self.fail(f"Unexpected {shown(token)}.")
            if key in found:
                raise self.fail(f"`{key}` is given twice.")
            self.pos += 1
            if key in rest_names:
                found[key] = self.rest(f"text after `{key}`")
            else:
                found[key] = self.take(f"a value after `{key}`")
        return found

    def converted(self, convert: Callable[[str], object], token: str) -> object:
        """Run a core value parser, turning its error into a usage error for this verb."""
        try:
            return convert(token)
        except UsageError:
            raise
        except ReleasebotError as error:
            raise self.fail(error.message) from None


def name(token: str, what: str, args: Args) -> str:
    value = token.strip().lower()
    if not NAME_RE.match(value):
        raise args.fail(
            f"{shown(token)} is not a valid {what} name: use 1 to 63 lower-case letters, digits, "
            "`.`, `_` or `-`, starting with a letter or digit."
        )
    return value


def version(token: str, args: Args) -> str:
    if not VERSION_RE.match(token):
        raise args.fail(
            f"{shown(token)} is not a valid version: use up to 64 letters, digits, `.`, `_`, `+` or `-`, "
            "like `v1.4.2` or `2026.11.22-1`."
        )
    return token


def timezone(token: str, args: Args) -> str:
    try:
        ZoneInfo(token)
    except (ZoneInfoNotFoundError, ValueError):
        raise args.fail(f"{shown(token)} is not a time zone: use an IANA name like `Europe/Paris` or `UTC`.") from None
    return token


def channel(token: str, args: Args) -> str:
    return str(args.converted(parse_channel, token))


def user(token: str, args: Args) -> str:
    return str(args.converted(parse_user, token))


def reference(token: str, prefix: str, args: Args) -> int:
    from core.text import parse_reference

    return int(str(args.converted(lambda t: parse_reference(t, prefix), token)))


def instant(token: str, args: Args, *, tz: str = "UTC") -> datetime:
    """``2026-11-22T18:00``, ``2026-11-22 18:00`` (as two tokens joined by the caller) or with an offset."""
    text = token.replace(" ", "T")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise args.fail(
            f"{shown(token)} is not a date and time: write it like `2026-11-27T18:00` (in {tz}) "
            "or with an offset, `2026-11-27T18:00+01:00`."
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(UTC)

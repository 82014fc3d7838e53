"""lock, unlock, locks, freeze, freezes, unfreeze."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from core.durations import format_duration, parse_duration
from core.permissions import Permission
from core.syntax import Args, Command, Verb, instant, name, reference, shown, timezone

MAX_LOCK_S = 30 * 86400
MIN_LOCK_S = 60
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?(Z|[+-]\d{2}(:?\d{2})?)?$", re.IGNORECASE)


@dataclass(frozen=True)
class LockScope(Command):
    environment: str
    service: str | None = None
    duration_s: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class UnlockScope(Command):
    environment: str
    service: str | None = None
    force: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class ListLocks(Command):
    pass


@dataclass(frozen=True)
class FreezeEnvironment(Command):
    environment: str
    ends_at: datetime | None  # None: ``duration_s`` after the start
    starts_at: datetime | None = None  # None: now
    reason: str | None = None
    duration_s: int | None = None


@dataclass(frozen=True)
class ListFreezes(Command):
    pass


@dataclass(frozen=True)
class Unfreeze(Command):
    freeze_id: int


LOCK = "/release lock <env> [<service>] [for <duration>] [reason <text>]"
UNLOCK = "/release unlock <env> [<service>] [--force reason <text>]"
LOCKS = "/release locks"
FREEZE = "/release freeze <env> [from <time|now>] (until <time> | for <duration>) [tz <zone>] [reason <text>]"
FREEZES = "/release freezes"
UNFREEZE = "/release unfreeze <F-id>"


def _scope(args: Args, keywords: set[str]) -> tuple[str, str | None]:
    environment = name(args.take("the environment"), "environment", args)
    following = args.peek()
    if following is None or following.lower() in keywords:
        return environment, None
    return environment, name(args.take("the service"), "service", args)


def _duration(token: str, args: Args) -> int:
    seconds = int(str(args.converted(parse_duration, token)))
    if seconds > MAX_LOCK_S:
        raise args.fail(
            f"{shown(token)} is too long: a lock lasts at most {format_duration(MAX_LOCK_S)}. "
            "Leave out `for` to lock until you unlock."
        )
    if seconds < MIN_LOCK_S:
        raise args.fail(f"{shown(token)} is too short: a lock lasts at least {format_duration(MIN_LOCK_S)}.")
    return seconds


def parse_lock(tokens: list[str]) -> Command:
    args = Args(tokens, LOCK)
    environment, service = _scope(args, {"for", "reason"})
    options = args.keyword_options({"for"}, {"reason"})
    duration = _duration(options["for"], args) if "for" in options else None
    return LockScope(environment, service, duration, options.get("reason"))


def parse_unlock(tokens: list[str]) -> Command:
    args = Args(tokens, UNLOCK)
    force = args.flag("--force")
    environment, service = _scope(args, {"reason"})
    reason = args.keyword_options(set(), {"reason"}).get("reason")
    if force and reason is None:
        raise args.fail("Missing `reason <text>`: breaking someone else's lock needs a reason.")
    if reason is not None and not force:
        raise args.fail("A reason goes with `--force`, to break someone else's lock; your own needs none.")
    return UnlockScope(environment, service, force, reason)


def parse_locks(tokens: list[str]) -> Command:
    Args(tokens, LOCKS).done()
    return ListLocks()


def _time_text(args: Args, key: str) -> str:
    """A time after ``from``/``until``: one token, or a date and a time written as two."""
    text = args.take(f"a time after `{key}`")
    following = args.peek()
    if following is not None and _DATE.match(text) and _TIME.match(following):
        args.pos += 1
        text = f"{text} {following}"
    return text


def _instant(text: str, args: Args, tz: str) -> datetime:
    try:
        return instant(text, args, tz=tz)
    except (OverflowError, ValueError):
        raise args.fail(f"{shown(text)} is out of range: give a date and time in the next year.") from None


def _freeze_options(args: Args) -> dict[str, str]:
    found: dict[str, str] = {}
    while (token := args.peek()) is not None:
        key = token.lower()
        if key not in ("from", "until", "for", "tz", "reason"):
            raise args.fail(f"Unexpected {shown(token)}.")
        if key in found:
            raise args.fail(f"`{key}` is given twice.")
        args.pos += 1
        if key == "reason":
            found[key] = args.rest("text after `reason`")
        elif key == "tz":
            found[key] = args.take("a time zone after `tz`")
        elif key == "for":
            found[key] = args.take("a duration after `for`, like `2h` or `3d`")
        else:
            found[key] = _time_text(args, key)
    return found


def parse_freeze(tokens: list[str]) -> Command:
    args = Args(tokens, FREEZE)
    environment = name(args.take("the environment"), "environment", args)
    options = _freeze_options(args)
    if ("until" in options) == ("for" in options):
        raise args.fail("Say when the freeze ends: `until <time>` or `for <duration>` (one of them).")
    tz = timezone(options["tz"], args) if "tz" in options else "UTC"
    start = options.get("from", "now")
    starts_at = None if start.lower() == "now" else _instant(start, args, tz)
    if "for" in options:
        seconds = int(str(args.converted(parse_duration, options["for"])))
        return FreezeEnvironment(environment, None, starts_at, options.get("reason"), duration_s=seconds)
    return FreezeEnvironment(environment, _instant(options["until"], args, tz), starts_at, options.get("reason"))


def parse_freezes(tokens: list[str]) -> Command:
    Args(tokens, FREEZES).done()
    return ListFreezes()


def parse_unfreeze(tokens: list[str]) -> Command:
    args = Args(tokens, UNFREEZE)
    freeze_id = reference(args.take("the freeze, like `F-3`"), "F", args)
    args.done()
    return Unfreeze(freeze_id)


VERBS = [
    Verb("lock", LOCK, "lock an environment or one service in it", Permission.LOCK, parse_lock),
    Verb("unlock", UNLOCK, "release a lock (admins may break one)", Permission.UNLOCK, parse_unlock),
    Verb("locks", LOCKS, "list the locks held now", Permission.VIEW, parse_locks),
    Verb("freeze", FREEZE, "freeze an environment for a while", Permission.FREEZE, parse_freeze),
    Verb("freezes", FREEZES, "list freezes, now and coming up", Permission.VIEW, parse_freezes),
    Verb("unfreeze", UNFREEZE, "cancel a freeze", Permission.FREEZE, parse_unfreeze),
]

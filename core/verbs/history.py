"""history, where."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.history import HISTORY_DEFAULT, HISTORY_MAX
from core.permissions import Permission
from core.syntax import Args, Command, Verb, name, shown

_NUMBER = re.compile(r"^[0-9]{1,9}$")


@dataclass(frozen=True)
class History(Command):
    service: str
    environment: str | None = None
    limit: int = HISTORY_DEFAULT


@dataclass(frozen=True)
class Where(Command):
    service: str


HISTORY = "/release history <service> [<env>] [limit <n>]"
WHERE = "/release where <service>"


def _limit(token: str, args: Args) -> int:
    if not _NUMBER.match(token):
        raise args.fail(f"{shown(token)} is not a limit: give a whole number from 1 to {HISTORY_MAX}.")
    value = int(token)
    if not 1 <= value <= HISTORY_MAX:
        raise args.fail(f"A limit of {value} is out of range: give a whole number from 1 to {HISTORY_MAX}.")
    return value


def parse_history(tokens: list[str]) -> Command:
    args = Args(tokens, HISTORY)
    service = name(args.take("the service"), "service", args)
    following = args.peek()
    environment = None
    if following is not None and following.lower() != "limit":
        environment = name(args.take("the environment"), "environment", args)
    options = args.keyword_options({"limit"})
    limit = _limit(options["limit"], args) if "limit" in options else HISTORY_DEFAULT
    return History(service, environment, limit)


def parse_where(tokens: list[str]) -> Command:
    args = Args(tokens, WHERE)
    service = name(args.take("the service"), "service", args)
    args.done()
    return Where(service)


VERBS = [
    Verb(
        "history",
        HISTORY,
        "deployments and rollbacks, newest first",
        Permission.VIEW,
        parse_history,
        examples=["/release history payments-api production limit 10"],
    ),
    Verb(
        "where",
        WHERE,
        "what runs where, and whether you may deploy there",
        Permission.VIEW,
        parse_where,
    ),
]

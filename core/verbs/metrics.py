"""metrics: the four DORA keys for a service, a team or the whole organisation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.permissions import Permission
from core.syntax import Args, Command, Verb, name, shown

PERIODS_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30
PERIOD_CHOICES = ", ".join(f"`last {days}d`" for days in PERIODS_DAYS[:-1]) + f" or `last {PERIODS_DAYS[-1]}d`"


class MetricsScope(StrEnum):
    MINE = "mine"  # the caller's team, or the whole organisation for someone in no team
    ORG = "org"
    TEAM = "team"
    SERVICE = "service"


@dataclass(frozen=True)
class ShowMetrics(Command):
    scope: MetricsScope = MetricsScope.MINE
    name: str | None = None  # the team or service for those scopes
    days: int = DEFAULT_DAYS


METRICS = "/release metrics [org | team <team> | service <service>] [last 7d|30d|90d]"


def _period(args: Args) -> int:
    token = args.peek()
    if token is None:
        raise args.fail(f"Missing the period after `last`: use {PERIOD_CHOICES}.")
    args.pos += 1
    text = token.strip().lower()
    for days in PERIODS_DAYS:
        if text in (f"{days}d", f"{days}days"):
            return days
    raise args.fail(f"{shown(token)} is not a period I can show: use {PERIOD_CHOICES}.")


def _scope_name(args: Args, kind: MetricsScope) -> str:
    token = args.peek()
    if token is None or token.lower() in ("last", "org", "team", "service"):
        raise args.fail(f"Missing the {kind.value} name after `{kind.value}`, like `{_EXAMPLE[kind]}`.")
    args.pos += 1
    return name(token, kind.value, args)


_EXAMPLE = {MetricsScope.TEAM: "team payments", MetricsScope.SERVICE: "service payments-api"}


def parse_metrics(tokens: list[str]) -> Command:
    args = Args(tokens, METRICS)
    scope, scope_name, days = MetricsScope.MINE, None, None
    while (token := args.peek()) is not None:
        word = token.lower()
        if word == "last":
            if days is not None:
                raise args.fail("`last` is given twice: give one period.")
            args.pos += 1
            days = _period(args)
            continue
        if word not in ("org", "team", "service"):
            if any(word in (f"{d}d", f"{d}days") for d in PERIODS_DAYS):
                raise args.fail(f"Write the period after `last`: `last {word}`.")
            raise args.fail(
                f"Unexpected {shown(token)}: give `org`, `team <team>` or `service <service>`, then `last <period>`."
            )
        if scope is not MetricsScope.MINE:
            raise args.fail("Give one scope: `org`, `team <team>` or `service <service>`.")
        args.pos += 1
        scope = MetricsScope(word)
        if scope is not MetricsScope.ORG:
            scope_name = _scope_name(args, scope)
    return ShowMetrics(scope, scope_name, days or DEFAULT_DAYS)


VERBS = [
    Verb(
        "metrics",
        METRICS,
        "DORA metrics (deployment frequency, lead time, change failure rate, time to restore) with trend and "
        "band; by default your team's (the whole organisation's if you are in no team) over the last 30 days",
        Permission.SEE_METRICS,
        parse_metrics,
        examples=["/release metrics", "/release metrics service payments-api last 7d", "/release metrics org last 90d"],
    ),
]

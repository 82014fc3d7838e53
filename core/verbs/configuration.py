"""team add, service add, env add, user ... role (admins)."""

from __future__ import annotations

from dataclasses import dataclass

from core.model import Role
from core.permissions import Permission
from core.syntax import URL_RE, Args, Command, Verb, channel, name, shown, timezone, user
from core.text import unescape


@dataclass(frozen=True)
class TeamAdd(Command):
    name: str
    channel: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class ServiceAdd(Command):
    name: str
    team: str
    channel: str
    repo: str | None = None


@dataclass(frozen=True)
class EnvAdd(Command):
    name: str
    production: bool = False
    order: int | None = None


@dataclass(frozen=True)
class UserRole(Command):
    user_id: str
    role: Role


TEAM = "/release team add <name> [channel <#channel>] [tz <zone>]"
SERVICE = "/release service add <name> team <team> channel <#channel> [repo <url>]"
ENV = "/release env add <name> [production] [order <n>]"
USER = "/release user <@user> role <admin|developer|analyst|viewer>"


def _sub_add(args: Args, what: str) -> None:
    sub = args.take("`add`")
    if sub.lower() != "add":
        raise args.fail(f"Unknown {what} action {shown(sub)}.")


def parse_team(tokens: list[str]) -> Command:
    args = Args(tokens, TEAM)
    _sub_add(args, "team")
    team = name(args.take("the team name"), "team", args)
    options = args.keyword_options({"channel", "tz"})
    found_channel = channel(options["channel"], args) if "channel" in options else None
    tz = timezone(options["tz"], args) if "tz" in options else None
    return TeamAdd(team, found_channel, tz)


def parse_service(tokens: list[str]) -> Command:
    args = Args(tokens, SERVICE)
    _sub_add(args, "service")
    service = name(args.take("the service name"), "service", args)
    options = args.keyword_options({"team", "channel", "repo"})
    for required in ("team", "channel"):
        if required not in options:
            raise args.fail(f"Missing `{required} <{required}>`.")
    repo = options.get("repo")
    if repo is not None:
        repo = unescape(repo).strip("<>").split("|", 1)[0]
        if not URL_RE.match(repo):
            raise args.fail(f"{shown(repo)} is not a repository URL: give an http(s) address.")
    return ServiceAdd(service, name(options["team"], "team", args), channel(options["channel"], args), repo)


def parse_env(tokens: list[str]) -> Command:
    args = Args(tokens, ENV)
    _sub_add(args, "env")
    env = name(args.take("the environment name"), "environment", args)
    production = False
    order: int | None = None
    while (token := args.peek()) is not None:
        args.pos += 1
        if token.lower() == "production" and not production:
            production = True
        elif token.lower() == "order" and order is None:
            raw = args.take("a number after `order`")
            if not raw.isdigit() or int(raw) > 1000:
                raise args.fail(f"{shown(raw)} is not an order: give a whole number from 0 to 1000.")
            order = int(raw)
        else:
            raise args.fail(f"Unexpected {shown(token)}.")
    return EnvAdd(env, production, order)


def parse_user(tokens: list[str]) -> Command:
    args = Args(tokens, USER)
    user_id = user(args.take("the user"), args)
    keyword = args.take("`role <role>`")
    if keyword.lower() != "role":
        raise args.fail(f"Expected `role`, got {shown(keyword)}.")
    raw_role = args.take("the role")
    try:
        role = Role(raw_role.lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise args.fail(f"{shown(raw_role)} is not a role: choose one of {roles}.") from None
    args.done()
    return UserRole(user_id, role)


VERBS = [
    Verb("team", TEAM, "add or change a team", Permission.MANAGE_CONFIG, parse_team),
    Verb("service", SERVICE, "add or change a service", Permission.MANAGE_CONFIG, parse_service),
    Verb("env", ENV, "add or change an environment", Permission.MANAGE_CONFIG, parse_env),
    Verb("user", USER, "set someone's role", Permission.MANAGE_CONFIG, parse_user),
]

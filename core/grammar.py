"""The ``/release`` command grammar: text in, a typed command or a precise usage error out."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import UsageError
from core.model import Role
from core.permissions import Permission
from core.text import escape, parse_channel, parse_user, truncate, unescape

MAX_COMMAND_LENGTH = 4000
MAX_NOTES = 2000
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
SHA_RE = re.compile(r"^[0-9a-fA-F]{7,64}$")
URL_RE = re.compile(r"^https?://[^\s<>|]{1,490}$")


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class CreateRelease:
    service: str
    version: str
    commit: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Deploy:
    service: str
    version: str
    environment: str
    dry_run: bool = False


@dataclass(frozen=True)
class Status:
    service: str | None = None


@dataclass(frozen=True)
class TeamAdd:
    name: str
    channel: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class ServiceAdd:
    name: str
    team: str
    channel: str
    repo: str | None = None


@dataclass(frozen=True)
class EnvAdd:
    name: str
    production: bool = False
    order: int | None = None


@dataclass(frozen=True)
class UserRole:
    user_id: str
    role: Role


Command = Help | CreateRelease | Deploy | Status | TeamAdd | ServiceAdd | EnvAdd | UserRole


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


def _shown(token: str) -> str:
    return f"`{escape(truncate(token, 60))}`"


class _Args:
    """A cursor over tokens that produces precise usage errors for one verb."""

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

    def rest(self, what: str) -> str:
        if self.pos >= len(self.tokens):
            raise self.fail(f"Missing {what}.")
        text = " ".join(self.tokens[self.pos :])
        self.pos = len(self.tokens)
        return text

    def done(self) -> None:
        if self.pos < len(self.tokens):
            raise self.fail(f"Unexpected {_shown(self.tokens[self.pos])}.")

    def keyword_options(self, names: set[str], rest_names: frozenset[str] | set[str] = frozenset()) -> dict[str, str]:
        found: dict[str, str] = {}
        while (token := self.peek()) is not None:
            key = token.lower()
            if key not in names and key not in rest_names:
                raise self.fail(f"Unexpected {_shown(token)}.")
            if key in found:
                raise self.fail(f"`{key}` is given twice.")
            self.pos += 1
            found[key] = (
                self.rest(f"a value after `{key}`") if key in rest_names else self.take(f"a value after `{key}`")
            )
        return found


def name(token: str, what: str, args: _Args) -> str:
    value = token.strip().lower()
    if not NAME_RE.match(value):
        raise args.fail(
            f"{_shown(token)} is not a valid {what} name: use 1 to 63 lower-case letters, digits, "
            "`.`, `_` or `-`, starting with a letter or digit."
        )
    return value


def version(token: str, args: _Args) -> str:
    if not VERSION_RE.match(token):
        raise args.fail(
            f"{_shown(token)} is not a valid version: use up to 64 letters, digits, `.`, `_`, `+` or `-`, "
            "like `v1.4.2` or `2026.11.22-1`."
        )
    return token


def _parse_help(tokens: list[str]) -> Command:
    _Args(tokens, "/release help").done()
    return Help()


def _parse_create(tokens: list[str]) -> Command:
    args = _Args(tokens, VERBS_USAGE["create"])
    service = name(args.take("the service"), "service", args)
    ver = version(args.take("the version"), args)
    options = args.keyword_options({"commit"}, {"notes"})
    commit = options.get("commit")
    if commit is not None and not SHA_RE.match(commit):
        raise args.fail(f"{_shown(commit)} is not a commit sha: give 7 to 64 hexadecimal characters.")
    notes = options.get("notes")
    if notes is not None and len(notes) > MAX_NOTES:
        raise args.fail(f"The notes are {len(notes)} characters long; the limit is {MAX_NOTES}.")
    return CreateRelease(service, ver, commit.lower() if commit else None, notes)


def _parse_deploy(tokens: list[str]) -> Command:
    args = _Args(tokens, VERBS_USAGE["deploy"])
    dry_run = False
    if "--dry-run" in [t.lower() for t in tokens]:
        dry_run = True
        tokens = [t for t in tokens if t.lower() != "--dry-run"]
        args = _Args(tokens, VERBS_USAGE["deploy"])
    service = name(args.take("the service"), "service", args)
    ver = version(args.take("the version"), args)
    keyword = args.take("`to <environment>`")
    if keyword.lower() != "to":
        raise args.fail(f"Expected `to` before the environment, got {_shown(keyword)}.")
    env = name(args.take("the environment"), "environment", args)
    args.done()
    return Deploy(service, ver, env, dry_run)


def _parse_status(tokens: list[str]) -> Command:
    args = _Args(tokens, VERBS_USAGE["status"])
    service = name(args.take("the service"), "service", args) if args.peek() is not None else None
    args.done()
    return Status(service)


def _timezone(token: str, args: _Args) -> str:
    try:
        ZoneInfo(token)
    except (ZoneInfoNotFoundError, ValueError):
        raise args.fail(f"{_shown(token)} is not a time zone: use an IANA name like `Europe/Paris` or `UTC`.") from None
    return token


def _channel(token: str, args: _Args) -> str:
    try:
        return parse_channel(token)
    except UsageError:
        raise
    except Exception as exc:  # core.errors.Invalid carries the message
        raise args.fail(getattr(exc, "message", str(exc))) from None


def _parse_team(tokens: list[str]) -> Command:
    args = _Args(tokens, VERBS_USAGE["team"])
    sub = args.take("`add`")
    if sub.lower() != "add":
        raise args.fail(f"Unknown team action {_shown(sub)}.")
    team = name(args.take("the team name"), "team", args)
    options = args.keyword_options({"channel", "tz"})
    channel = _channel(options["channel"], args) if "channel" in options else None
    tz = _timezone(options["tz"], args) if "tz" in options else None
    return TeamAdd(team, channel, tz)


def _parse_service(tokens: list[str]) -> Command:
    args = _Args(tokens, VERBS_USAGE["service"])
    sub = args.take("`add`")
    if sub.lower() != "add":
        raise args.fail(f"Unknown service action {_shown(sub)}.")
    service = name(args.take("the service name"), "service", args)
    options = args.keyword_options({"team", "channel", "repo"})
    for required in ("team", "channel"):
        if required not in options:
            raise args.fail(f"Missing `{required} <{required}>`.")
    repo = options.get("repo")
    if repo is not None:
        repo = unescape(repo).strip("<>").split("|", 1)[0]
        if not URL_RE.match(repo):
            raise args.fail(f"{_shown(repo)} is not a repository URL: give an http(s) address.")
    return ServiceAdd(service, name(options["team"], "team", args), _channel(options["channel"], args), repo)


def _parse_env(tokens: list[str]) -> Command:
    args = _Args(tokens, VERBS_USAGE["env"])
    sub = args.take("`add`")
    if sub.lower() != "add":
        raise args.fail(f"Unknown env action {_shown(sub)}.")
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
                raise args.fail(f"{_shown(raw)} is not an order: give a whole number from 0 to 1000.")
            order = int(raw)
        else:
            raise args.fail(f"Unexpected {_shown(token)}.")
    return EnvAdd(env, production, order)


def _parse_user(tokens: list[str]) -> Command:
    args = _Args(tokens, VERBS_USAGE["user"])
    raw_user = args.take("the user")
    try:
        user_id = parse_user(raw_user)
    except Exception as exc:
        raise args.fail(getattr(exc, "message", str(exc))) from None
    keyword = args.take("`role <role>`")
    if keyword.lower() != "role":
        raise args.fail(f"Expected `role`, got {_shown(keyword)}.")
    raw_role = args.take("the role")
    try:
        role = Role(raw_role.lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise args.fail(f"{_shown(raw_role)} is not a role: choose one of {roles}.") from None
    args.done()
    return UserRole(user_id, role)


VERBS_USAGE = {
    "help": "/release help",
    "create": "/release create <service> <version> [commit <sha>] [notes <text>]",
    "deploy": "/release deploy <service> <version> to <env> [--dry-run]",
    "status": "/release status [service]",
    "team": "/release team add <name> [channel <#channel>] [tz <zone>]",
    "service": "/release service add <name> team <team> channel <#channel> [repo <url>]",
    "env": "/release env add <name> [production] [order <n>]",
    "user": "/release user <@user> role <admin|developer|analyst|viewer>",
}

VERBS: dict[str, Verb] = {
    "help": Verb("help", VERBS_USAGE["help"], "show what you can do", Permission.VIEW, _parse_help),
    "create": Verb(
        "create",
        VERBS_USAGE["create"],
        "create a release",
        Permission.CREATE_RELEASE,
        _parse_create,
        ["/release create payments-api v1.4.2 commit 9f3c2ab notes Faster refunds"],
    ),
    "deploy": Verb(
        "deploy",
        VERBS_USAGE["deploy"],
        "deploy a release to an environment",
        Permission.DEPLOY,
        _parse_deploy,
        ["/release deploy payments-api v1.4.2 to staging"],
    ),
    "status": Verb(
        "status",
        VERBS_USAGE["status"],
        "show the version running in each environment",
        Permission.VIEW,
        _parse_status,
    ),
    "team": Verb("team", VERBS_USAGE["team"], "add a team", Permission.MANAGE_CONFIG, _parse_team),
    "service": Verb("service", VERBS_USAGE["service"], "add a service", Permission.MANAGE_CONFIG, _parse_service),
    "env": Verb("env", VERBS_USAGE["env"], "add an environment", Permission.MANAGE_CONFIG, _parse_env),
    "user": Verb("user", VERBS_USAGE["user"], "set someone's role", Permission.MANAGE_CONFIG, _parse_user),
}


def parse(text: str) -> Command:
    """Parse ``/release`` text. Any input gives a command or a ``UsageError``; nothing else escapes."""
    if len(text) > MAX_COMMAND_LENGTH:
        raise UsageError(
            f"That command is {len(text)} characters long; the limit is {MAX_COMMAND_LENGTH}.",
            hint="Shorten the notes or reason.",
        )
    tokens = tokenize(unescape(text).replace("\x00", ""))
    if not tokens:
        return Help()
    verb = tokens[0].lower()
    spec = VERBS.get(verb)
    if spec is None:
        known = ", ".join(f"`{v}`" for v in VERBS)
        raise UsageError(
            f"I don't know the command {_shown(tokens[0])}.",
            hint=f"Commands: {known}. Type `/release help` for details.",
        )
    return spec.parse(tokens[1:])

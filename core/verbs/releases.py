"""help, create, deploy, status."""

from __future__ import annotations

from dataclasses import dataclass

from core.permissions import Permission
from core.syntax import MAX_TEXT, SHA_RE, Args, Command, Verb, name, shown, version


@dataclass(frozen=True)
class Help(Command):
    pass


@dataclass(frozen=True)
class CreateRelease(Command):
    service: str
    version: str
    commit: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Deploy(Command):
    service: str
    version: str
    environment: str
    dry_run: bool = False
    override_freeze: str | None = None
    override_bad: str | None = None


@dataclass(frozen=True)
class DeployForm(Command):
    """``/release deploy`` alone: the deploy form."""


@dataclass(frozen=True)
class CreateForm(Command):
    """``/release create`` alone: the create-release form."""


@dataclass(frozen=True)
class Status(Command):
    service: str | None = None


HELP = "/release help"
CREATE = "/release create <service> <version> [commit <sha>] [notes <text>]"
DEPLOY = (
    "/release deploy <service> <version> to <env> [--dry-run] [--override-freeze <reason>] [--override-bad <reason>]"
)
OVERRIDES = ("--override-freeze", "--override-bad")
STATUS = "/release status [service]"


def parse_help(tokens: list[str]) -> Command:
    Args(tokens, HELP).done()
    return Help()


def parse_create(tokens: list[str]) -> Command:
    if not tokens:
        return CreateForm()
    args = Args(tokens, CREATE)
    service = name(args.take("the service"), "service", args)
    ver = version(args.take("the version"), args)
    options = args.keyword_options({"commit"}, {"notes"})
    commit = options.get("commit")
    if commit is not None and not SHA_RE.match(commit):
        raise args.fail(f"{shown(commit)} is not a commit sha: give 7 to 64 hexadecimal characters.")
    notes = options.get("notes")
    if notes is not None and len(notes) > MAX_TEXT:
        raise args.fail(f"The notes are {len(notes)} characters long; the limit is {MAX_TEXT}.")
    return CreateRelease(service, ver, commit.lower() if commit else None, notes)


def parse_deploy(tokens: list[str]) -> Command:
    if not tokens:
        return DeployForm()
    args = Args(tokens, DEPLOY)
    dry_run = args.flag("--dry-run")
    service = name(args.take("the service"), "service", args)
    ver = version(args.take("the version"), args)
    keyword = args.take("`to <environment>`")
    if keyword.lower() != "to":
        raise args.fail(f"Expected `to` before the environment, got {shown(keyword)}.")
    env = name(args.take("the environment"), "environment", args)
    overrides = _overrides(args)
    return Deploy(service, ver, env, dry_run, overrides.get("--override-freeze"), overrides.get("--override-bad"))


def _overrides(args: Args) -> dict[str, str]:
    """``--override-freeze <reason>`` and ``--override-bad <reason>``, in either order; a reason runs up to the
    next override flag."""
    found: dict[str, str] = {}
    while args.more():
        token = args.take("an override")
        flag = token.lower()
        if flag not in OVERRIDES:
            raise args.fail(f"Unexpected {shown(token)}.")
        if flag in found:
            raise args.fail(f"`{flag}` is given twice.")
        words = []
        while (word := args.peek()) is not None and word.lower() not in OVERRIDES:
            words.append(args.take("a reason"))
        what = "freeze" if flag == "--override-freeze" else "bad release"
        if not words:
            raise args.fail(f"Missing the reason for overriding the {what}.")
        reason = " ".join(words)
        if len(reason) > MAX_TEXT:
            raise args.fail(
                f"The reason for overriding the {what} is {len(reason)} characters long; the limit is {MAX_TEXT}."
            )
        found[flag] = reason
    return found


def parse_status(tokens: list[str]) -> Command:
    args = Args(tokens, STATUS)
    service = name(args.take("the service"), "service", args) if args.more() else None
    args.done()
    return Status(service)


VERBS = [
    Verb("help", HELP, "show what you can do", Permission.VIEW, parse_help),
    Verb(
        "create",
        CREATE,
        "create a release (`/release create` alone opens a form)",
        Permission.CREATE_RELEASE,
        parse_create,
    ),
    Verb(
        "deploy",
        DEPLOY,
        "deploy a release to an environment (`/release deploy` alone opens a form; `--dry-run` previews it)",
        Permission.DEPLOY,
        parse_deploy,
    ),
    Verb("status", STATUS, "show the version running in each environment", Permission.VIEW, parse_status),
]

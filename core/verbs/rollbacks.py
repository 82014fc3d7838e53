"""rollback, cancel, incident."""

from __future__ import annotations

from dataclasses import dataclass

from core.permissions import Permission
from core.syntax import Args, Command, Verb, name, reference, version


@dataclass(frozen=True)
class RollBack(Command):
    service: str
    environment: str
    to_version: str | None = None
    reason: str | None = None
    lock: bool = True


@dataclass(frozen=True)
class Cancel(Command):
    deployment_id: int


@dataclass(frozen=True)
class OpenIncident(Command):
    deployment_id: int
    note: str | None = None


@dataclass(frozen=True)
class ResolveIncident(Command):
    deployment_id: int


ROLLBACK = "/release rollback <service> <env> [to <version>] [reason <text>] [--no-lock]"
CANCEL = "/release cancel D-42"
INCIDENT = "/release incident D-42 [note] | /release incident resolve D-42"


def parse_rollback(tokens: list[str]) -> Command:
    args = Args(tokens, ROLLBACK)
    no_lock = args.flag("--no-lock")
    service = name(args.take("the service"), "service", args)
    environment = name(args.take("the environment"), "environment", args)
    options = args.keyword_options({"to"}, {"reason"})
    target = version(options["to"], args) if "to" in options else None
    return RollBack(service, environment, target, options.get("reason"), not no_lock)


def parse_cancel(tokens: list[str]) -> Command:
    args = Args(tokens, CANCEL)
    deployment_id = reference(args.take("the deployment (like D-42)"), "D", args)
    args.done()
    return Cancel(deployment_id)


def parse_incident(tokens: list[str]) -> Command:
    args = Args(tokens, INCIDENT)
    first = args.take("the deployment (like D-42), or `resolve D-42`")
    if first.lower() == "resolve":
        deployment_id = reference(args.take("the deployment (like D-42)"), "D", args)
        args.done()
        return ResolveIncident(deployment_id)
    deployment_id = reference(first, "D", args)
    note = args.rest("the note") if args.more() else None
    return OpenIncident(deployment_id, note)


VERBS = [
    Verb(
        "rollback",
        ROLLBACK,
        "go back to the last good version (marks the release bad, locks the environment for the service)",
        Permission.ROLLBACK,
        parse_rollback,
    ),
    Verb("cancel", CANCEL, "cancel a deployment that has not finished", Permission.CANCEL, parse_cancel),
    Verb(
        "incident",
        INCIDENT,
        "attribute an incident to a production deployment, or resolve it",
        Permission.REPORT_INCIDENT,
        parse_incident,
    ),
]

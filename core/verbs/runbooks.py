"""runbook (search, add, edit, show), runbooks."""

from __future__ import annotations

from dataclasses import dataclass

from core.permissions import Permission
from core.runbooks import PREFIX, QUERY_MAX, search_terms
from core.syntax import Args, Command, Verb, name, reference


@dataclass(frozen=True)
class OpenRunbookForm(Command):
    runbook_id: int | None = None  # None: a new runbook


@dataclass(frozen=True)
class ShowRunbook(Command):
    runbook_id: int


@dataclass(frozen=True)
class SearchRunbooks(Command):
    query: str


@dataclass(frozen=True)
class ListRunbooks(Command):
    service: str | None = None


RUNBOOK = "/release runbook <words> | runbook add | runbook edit <RB-n> | runbook show <RB-n>"
RUNBOOKS = "/release runbooks [service]"


def _runbook_id(args: Args) -> int:
    runbook_id = reference(args.take("the runbook, like `RB-3`"), PREFIX, args)
    args.done()
    return runbook_id


def parse_runbook(tokens: list[str]) -> Command:
    args = Args(tokens, RUNBOOK)
    first = (args.peek() or "").lower()
    if first == "add":
        args.take("`add`")
        args.done()
        return OpenRunbookForm()
    if first in ("edit", "show"):
        args.take(f"`{first}`")
        runbook_id = _runbook_id(args)
        return OpenRunbookForm(runbook_id) if first == "edit" else ShowRunbook(runbook_id)
    if not args.more():
        raise args.fail("Missing the words to search for, like `database failover`.")
    query = " ".join(tokens)
    if len(query) > QUERY_MAX:
        raise args.fail(f"That search is {len(query)} characters long; the limit is {QUERY_MAX}: use a few words.")
    if not search_terms(query):
        raise args.fail(
            "There is nothing to search for in that: use words of letters or digits, not only common ones like `the`."
        )
    return SearchRunbooks(query)


def parse_runbooks(tokens: list[str]) -> Command:
    args = Args(tokens, RUNBOOKS)
    service = name(args.take("the service"), "service", args) if args.more() else None
    args.done()
    return ListRunbooks(service)


VERBS = [
    Verb(
        "runbook",
        RUNBOOK,
        "search runbooks; developers and admins add and edit them in a form",
        Permission.VIEW,
        parse_runbook,
    ),
    Verb("runbooks", RUNBOOKS, "list runbooks, of one service or all", Permission.VIEW, parse_runbooks),
]

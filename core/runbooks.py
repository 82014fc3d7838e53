"""Runbooks: written procedures for when something goes wrong, found by full-text search and linked from the
messages of failed and rolled-back deployments.

Developers and admins write and edit them; everyone may read and search them. Search text never reaches a
database as query syntax: it is reduced to plain words (letters and digits) first, and each storage quotes
or binds those words as values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from core import audit
from core.errors import Invalid, NotFound
from core.model import Actor, Runbook, RunbookHit
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.syntax import NAME_RE
from core.text import escape

# A snippet's matched words sit between these two characters (Unicode private use: never in stored text).
MARK_START = "\ue000"
MARK_END = "\ue001"

PREFIX = "RB"
TITLE_MAX = 200
CONTENT_MAX = 3000  # what one Slack text input holds
TAGS_MAX = 10
TAG_MAX = 30
QUERY_MAX = 200
TERMS_MAX = 12
LINKED_MAX = 3  # runbooks linked from one deployment's message

TITLE, CONTENT, SERVICE, ENVIRONMENT, TAGS = "title", "content", "service", "environment", "tags"

_TERM = re.compile(r"[^\W_]+")
# Words too common to search for: PostgreSQL's English dictionary ignores these, so the search leaves them out
# on every database and finds the same runbooks on each ("not" and "or" among them: no operator survives).
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can did do does doing don down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such t than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with you your yours yourself yourselves s""".split()
)
_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_UNSTORED = str.maketrans({MARK_START: None, MARK_END: None, "\x00": None})


class RunbookProblems(Invalid):
    """What is wrong with a runbook's fields, one plain-text message per field (``title``, ``content``, ...)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class RunbookDraft:
    """A runbook as typed in its form; ``tags`` is comma-separated."""

    title: str
    content: str
    service: str | None = None
    environment: str | None = None
    tags: str = ""


@dataclass(frozen=True)
class RunbookForm:
    """What the add/edit form needs: the runbook being edited (None for a new one) and the choices offered."""

    runbook: Runbook | None
    services: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SavedRunbook:
    runbook: Runbook
    created: bool
    changed: list[str]  # the fields an edit changed (empty: nothing to save, nothing audited)


def reference(runbook_id: int) -> str:
    return f"{PREFIX}-{runbook_id}"


def search_terms(text: str) -> list[str]:
    """The words a search looks for: runs of letters and digits, lower-cased, each once, without the common
    ``STOP_WORDS``, at most ``TERMS_MAX``.

    Quotes, operators, column filters and the like are dropped here, so nobody can inject full-text syntax."""
    words = (word.lower() for word in _TERM.findall(text))
    return list(dict.fromkeys(word for word in words if word not in STOP_WORDS))[:TERMS_MAX]


def parse_tags(text: str) -> tuple[list[str], str | None]:
    """Comma-separated tags, lower-cased, each once; returns the tags and a problem, if any."""
    tags = list(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    bad = [t for t in tags if len(t) > TAG_MAX or not _TAG.match(t)]
    if bad:
        return tags, (
            f'"{bad[0][:40]}" is not a tag: use lower-case letters, digits, ".", "_" or "-" (up to {TAG_MAX}), '
            "and commas between tags."
        )
    if len(tags) > TAGS_MAX:
        return tags, f"That is {len(tags)} tags; a runbook has at most {TAGS_MAX}."
    return tags, None


def _text_problems(title: str, content: str) -> dict[str, str]:
    problems = {}
    if not title:
        problems[TITLE] = "Give the runbook a title."
    elif len(title) > TITLE_MAX:
        problems[TITLE] = f"The title is {len(title)} characters long; the limit is {TITLE_MAX}."
    if not content.strip():
        problems[CONTENT] = "Write the steps: the content can't be empty."
    elif len(content) > CONTENT_MAX:
        problems[CONTENT] = f"The content is {len(content)} characters long; the limit is {CONTENT_MAX}."
    return problems


async def _scope_problem(uow: UnitOfWork, what: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not NAME_RE.match(value):
        return f'"{value[:40]}" is not a valid {what} name.'
    repository = uow.services if what == SERVICE else uow.environments
    if await repository.get(value) is not None:
        return None
    known = sorted(item.name for item in await repository.list())
    listed = ", ".join(known[:10]) + (", …" if len(known) > 10 else "") if known else "none yet"
    return f'There is no {what} "{value[:40]}". Known: {listed}.'


def _blank(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value or None


async def _checked(uow: UnitOfWork, draft: RunbookDraft) -> tuple[str, str, str | None, str | None, list[str]]:
    """The draft's cleaned fields, or ``RunbookProblems`` naming every field that is wrong."""
    title = " ".join(draft.title.translate(_UNSTORED).split())
    content = draft.content.translate(_UNSTORED).strip()
    service, environment = _blank(draft.service), _blank(draft.environment)
    problems = _text_problems(title, content)
    tags, tag_problem = parse_tags(draft.tags.translate(_UNSTORED))
    for what, value in ((SERVICE, service), (ENVIRONMENT, environment)):
        problem = await _scope_problem(uow, what, value)
        if problem:
            problems[what] = problem
    if tag_problem:
        problems[TAGS] = tag_problem
    if problems:
        raise RunbookProblems(problems)
    return title, content, service, environment, tags


async def find_runbook(uow: UnitOfWork, runbook_id: int) -> Runbook:
    runbook = await uow.runbooks.get(runbook_id)
    if runbook is None:
        raise NotFound(
            f"There is no runbook {reference(runbook_id)}.",
            hint="`/release runbooks` lists them; `/release runbook <words>` searches them.",
        )
    return runbook


async def runbook_form(uow: UnitOfWork, *, actor: Actor, runbook_id: int | None) -> RunbookForm:
    """Only developers and admins may write runbooks; an edit needs the runbook to exist."""
    require(actor, Permission.MANAGE_RUNBOOKS)
    runbook = await find_runbook(uow, runbook_id) if runbook_id is not None else None
    services = sorted(s.name for s in await uow.services.list() if s.active)
    environments = [e.name for e in sorted(await uow.environments.list(), key=lambda e: (e.order, e.name))]
    return RunbookForm(runbook, services, environments)


async def save_runbook(
    uow: UnitOfWork,
    *,
    actor: Actor,
    runbook_id: int | None,
    draft: RunbookDraft,
    now: datetime,
    request_id: str | None,
) -> SavedRunbook:
    """Create (``runbook_id`` None) or edit a runbook. Only developers and admins may; every field is checked
    before anything is written (``RunbookProblems`` names each bad field); every change is audited."""
    require(actor, Permission.MANAGE_RUNBOOKS)
    existing = await find_runbook(uow, runbook_id) if runbook_id is not None else None
    title, content, service, environment, tags = await _checked(uow, draft)
    values = {TITLE: title, CONTENT: content, SERVICE: service, ENVIRONMENT: environment, TAGS: tags}
    if existing is None:
        runbook = await uow.runbooks.add(
            Runbook(title, content, actor.user_id, now, now, service=service, environment=environment, tags=tags)
        )
        await _audit(uow, actor, "runbook.create", runbook, now, request_id, sorted(values))
        return SavedRunbook(runbook, created=True, changed=sorted(values))
    changed = [key for key, value in values.items() if getattr(existing, key) != value]
    if not changed:
        return SavedRunbook(existing, created=False, changed=[])
    existing.title, existing.content, existing.tags = title, content, tags
    existing.service, existing.environment, existing.updated_at = service, environment, now
    if not await uow.runbooks.update(existing):
        raise NotFound(f"{existing.reference} was deleted while you edited it.")
    await _audit(uow, actor, "runbook.update", existing, now, request_id, changed)
    return SavedRunbook(existing, created=False, changed=changed)


async def _audit(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    runbook: Runbook,
    now: datetime,
    request_id: str | None,
    changed: list[str],
) -> None:
    details = {
        "title": runbook.title,
        "service": runbook.service,
        "environment": runbook.environment,
        "tags": list(runbook.tags),
        "changed": changed,
    }
    await audit.record(
        uow, actor=actor, action=action, target=runbook.reference, now=now, request_id=request_id, details=details
    )


async def get_runbook(uow: UnitOfWork, *, actor: Actor, runbook_id: int) -> Runbook:
    """Everyone may read a runbook."""
    require(actor, Permission.VIEW)
    return await find_runbook(uow, runbook_id)


async def search_runbooks(uow: UnitOfWork, *, actor: Actor, query: str, limit: int) -> list[RunbookHit]:
    """Runbooks containing every word of ``query``, best first (at most ``limit``)."""
    require(actor, Permission.VIEW)
    terms = search_terms(query)
    if not terms:
        raise Invalid(
            "There is nothing to search for in that: use words of letters or digits, not only common ones like `the`.",
            hint="Like `/release runbook database failover`.",
        )
    return list(await uow.runbooks.search(terms, limit=limit))


async def list_runbooks(uow: UnitOfWork, *, actor: Actor, service: str | None, limit: int) -> list[Runbook]:
    """Most recently changed first; a named service must exist."""
    require(actor, Permission.VIEW)
    if service is not None and await uow.services.get(service) is None:
        raise NotFound(f"There is no service `{escape(service)}`.", hint="`/release status` lists the services.")
    return list(await uow.runbooks.list(service=service, limit=limit))


async def best_runbooks(
    uow: UnitOfWork, service: str, environment: str | None, text: str, limit: int = LINKED_MAX
) -> list[Runbook]:
    """The runbooks worth linking for trouble with ``service`` in ``environment``: the service's runbooks for
    that environment first, then its runbooks for any environment, each group ranked by how well it matches
    ``text`` (a failing stage's name and reason, a rollback's reason). Reads only; no permission involved."""
    if limit <= 0:
        return []
    return list(await uow.runbooks.for_service(service, environment, search_terms(text), limit=limit))


def linking_text(*parts: str | None) -> str:
    """The words to rank runbooks by, from the parts given (stage name, reason, ...)."""
    return " ".join(part for part in parts if part)

"""The history import (``releasebot import FILE``): check every line, store the file in one transaction.

The lines are checked by ``core.dora_import_lines``; the store (``uow.imports``) writes them in bulk, chunk by
chunk, and reports what only the database can tell. One bad line and nothing of the file is stored (the
caller does not commit). Imported deployments are history: they send no Slack message and start no
pipeline; the import is one audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import audit
from core.dora_import_lines import HistoryChecker, HistoryRecord, LineProblem, LineProblemError
from core.errors import ReleasebotError
from core.model import Actor
from core.text import truncate

if TYPE_CHECKING:
    from core.ports import UnitOfWork

CHUNK = 5000
SHOWN_PROBLEMS = 50
YIELD_EVERY = 20  # lines checked between two turns of the event loop while a chunk is being stored


@dataclass
class ImportReport:
    lines: int = 0
    records: int = 0
    imported: int = 0
    skipped: int = 0
    incidents: int = 0
    releases_created: int = 0
    teams_created: list[str] = field(default_factory=list)
    services_created: list[str] = field(default_factory=list)
    environments_created: list[str] = field(default_factory=list)
    services_without_channel: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "imported": self.imported,
            "skipped": self.skipped,
            "incidents": self.incidents,
            "releases_created": self.releases_created,
            "teams_created": self.teams_created[:50],
            "services_created": self.services_created[:50],
            "environments_created": self.environments_created[:50],
        }


class ImportRejected(ReleasebotError):
    """Some lines are bad: nothing of the file was stored. ``problems`` holds the first ones, ``total`` all."""

    def __init__(self, problems: list[LineProblem], total: int) -> None:
        more = f" (the first {len(problems)} are listed)" if total > len(problems) else ""
        super().__init__(
            f"{total} bad line{'s' if total != 1 else ''}{more}: nothing was imported.",
            hint="Fix the lines named and import the file again.",
        )
        self.problems = problems
        self.total = total


class _Problems:
    def __init__(self) -> None:
        self.shown: list[LineProblem] = []
        self.total = 0

    def add(self, problems: Iterable[LineProblem]) -> None:
        for problem in problems:
            self.total += 1
            if len(self.shown) < SHOWN_PROBLEMS:
                self.shown.append(problem)


async def import_history(
    uow: UnitOfWork,
    lines: Iterable[str | bytes],
    *,
    actor: Actor,
    source: str,
    now: datetime,
    request_id: str | None,
    chunk_size: int = CHUNK,
) -> ImportReport:
    """Check every line, then store the file in the caller's transaction (the caller commits).

    Raises ``ImportRejected`` listing bad lines (every line is checked even after the first bad one); the
    caller must then not commit, so nothing of the file is stored. One audit entry records the import.
    """
    checker = HistoryChecker()
    problems = _Problems()
    report = ImportReport()
    storing = _Storing(uow, report, problems)
    chunk: list[HistoryRecord] = []
    await uow.imports.start(now=now)
    try:
        for number, text in enumerate(lines, start=1):
            report.lines = number
            if storing.busy and number % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the chunk being stored talk to the database
            try:
                record = checker.check(number, text)
            except LineProblemError as error:
                problems.add([error.problem])
                continue
            if record is None:
                continue
            report.records += 1
            if problems.total:
                continue  # nothing more is stored; the remaining lines are still checked
            chunk.append(record)
            if len(chunk) >= chunk_size:
                await storing.submit(chunk)
                chunk = []
        if chunk and not problems.total:
            await storing.submit(chunk)
        await storing.wait()
    finally:
        await storing.cancel()
    if problems.total:
        raise ImportRejected(sorted(problems.shown, key=lambda p: p.line), problems.total)
    created = await uow.imports.finish()
    report.teams_created = list(created.teams)
    report.services_created = list(created.services)
    report.environments_created = list(created.environments)
    report.services_without_channel = list(created.services_without_channel)
    await audit.record(
        uow,
        actor=actor,
        action="history.import",
        target=truncate(source, 120),
        now=now,
        request_id=request_id,
        details=report.details(),
    )
    return report


class _Storing:
    """Stores one chunk in the background while the next one is checked: storing mostly waits on the
    database, checking is all CPU, so the two overlap. Chunks are still stored one after the other."""

    def __init__(self, uow: UnitOfWork, report: ImportReport, problems: _Problems) -> None:
        self.uow, self.report, self.problems = uow, report, problems
        self.task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None

    async def submit(self, chunk: list[HistoryRecord]) -> None:
        await self.wait()
        if not self.problems.total:
            self.task = asyncio.ensure_future(_store(self.uow, chunk, self.report, self.problems))

    async def wait(self) -> None:
        if self.task is not None:
            task, self.task = self.task, None
            await task

    async def cancel(self) -> None:
        if self.task is not None:
            task, self.task = self.task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _store(uow: UnitOfWork, chunk: list[HistoryRecord], report: ImportReport, problems: _Problems) -> None:
    outcome = await uow.imports.store(chunk)
    problems.add(outcome.problems)
    report.imported += outcome.imported
    report.skipped += outcome.skipped
    report.incidents += outcome.incidents
    report.releases_created += outcome.releases_created

"""Recurring freezes declared in configuration: checked with the rest of the declaration, applied with it.

For each environment a declaration names, the declaration is the truth for its recurring freezes: applying
creates or updates the declared ones (one per environment and cron expression) and cancels the stored ones
it no longer declares. The recurring freezes of environments it does not name are left alone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core import audit
from core.cron import parse_cron
from core.durations import format_duration
from core.errors import Invalid
from core.model import Actor, Freeze
from core.ports import UnitOfWork

DURATION_RANGE = (60, 14 * 86400)
MAX_REASON = 500
MAX_CRON = 120  # the width of the stored column
_VALUES = ("cron", "duration_s", "timezone", "reason")


@dataclass
class FreezeDeclaration:
    """A recurring freeze of ``environment``: it holds for ``duration_s`` from each time ``cron`` fires in
    ``timezone``."""

    environment: str
    cron: str
    duration_s: int
    timezone: str = "UTC"
    reason: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What identifies it: the environment and the expression with its fields separated by single spaces."""
        return (self.environment, " ".join(self.cron.split()))

    @property
    def label(self) -> str:
        """``production: 0 18 * * fri``, the name it has in an ``ApplyReport``."""
        return f"{self.key[0]}: {self.key[1]}"


def cron_problem(expression: str) -> str | None:
    """What is wrong with a five-field cron expression, worded for a configuration file; None if nothing."""
    if len(expression) > MAX_CRON:
        return f"must be at most {MAX_CRON} characters (got {len(expression)})"
    try:
        parse_cron(expression)
    except Invalid as error:
        return error.message.replace("`", "'").rstrip(".")
    return None


def duration_problem(seconds: int) -> str | None:
    low, high = DURATION_RANGE
    if low <= seconds <= high:
        return None
    return f"must be from {format_duration(low)} to {format_duration(high)} (got {format_duration(seconds)})"


def timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{name}': use an IANA name, like Europe/Paris or UTC"
    return None


def reason_problem(reason: str | None) -> str | None:
    if reason is None or len(reason) <= MAX_REASON:
        return None
    return f"must be at most {MAX_REASON} characters (got {len(reason)})"


def freeze_problems(at: str, freezes: Sequence[FreezeDeclaration]) -> list[str]:
    """The problems of one environment's freezes, ``at`` being the environment's location.

    Each expression must parse and fire, the time zone exist, the duration run from 1m to 14d, the reason
    hold at most 500 characters; an expression is declared once per environment.
    """
    problems: list[str] = []
    first: dict[str, int] = {}
    for index, freeze in enumerate(freezes):
        where = f"{at}.freezes[{index}]"
        checks = (
            ("cron", cron_problem(freeze.cron)),
            ("duration", duration_problem(freeze.duration_s)),
            ("timezone", timezone_problem(freeze.timezone)),
            ("reason", reason_problem(freeze.reason)),
        )
        problems += [f"{where}.{key}: {problem}" for key, problem in checks if problem is not None]
        expression = freeze.key[1]
        if expression in first:
            problems.append(
                f"{where}.cron: '{expression}' is declared twice for this environment "
                f"(first at {at}.freezes[{first[expression]}])"
            )
        first.setdefault(expression, index)
    return problems


async def apply_recurring_freezes(
    uow: UnitOfWork,
    *,
    actor: Actor,
    environments: Collection[str],
    freezes: Sequence[FreezeDeclaration],
    now: datetime,
    request_id: str | None,
) -> list[tuple[str, str]]:
    """Bring the recurring freezes of ``environments`` to ``freezes``; ``(outcome, label)`` per freeze.

    The outcome is created, updated, unchanged or cancelled. A stored recurring freeze of one of
    ``environments`` that ``freezes`` does not declare is cancelled (a conditional update: a freeze
    cancelled meanwhile is not reported twice). Each change gets one ``config.freeze`` audit entry.
    """
    stored = {_key(freeze): freeze for freeze in await uow.freezes.recurring()}
    outcomes: list[tuple[str, str]] = []
    for declared in freezes:
        old = stored.get(declared.key)
        freeze = Freeze(
            environment=declared.environment,
            created_by=actor.user_id,
            created_at=now,
            reason=declared.reason,
            cron=declared.key[1],
            duration_s=declared.duration_s,
            timezone=declared.timezone,
        )
        if not await uow.freezes.upsert_recurring(freeze):
            outcomes.append(("unchanged", declared.label))
            continue
        values = _values(freeze)
        changed = [key for key, value in values.items() if old is None or _values(old)[key] != value]
        outcome = "created" if old is None else "updated"
        await _record(uow, freeze, {"change": outcome, "fields": changed, **values}, actor, now, request_id)
        outcomes.append((outcome, declared.label))
    declared_keys = {declared.key for declared in freezes}
    for key, freeze in stored.items():
        if key[0] not in environments or key in declared_keys or freeze.id is None:
            continue
        if await uow.freezes.cancel(freeze.id, by=actor.user_id, now=now):
            details = {"change": "cancelled", **_values(freeze)}
            await _record(uow, freeze, details, actor, now, request_id)
            outcomes.append(("cancelled", f"{key[0]}: {key[1]}"))
    return outcomes


def _key(freeze: Freeze) -> tuple[str, str]:
    return (freeze.environment, " ".join((freeze.cron or "").split()))


def _values(freeze: Freeze) -> dict[str, Any]:
    return {"environment": freeze.environment, **{key: getattr(freeze, key) for key in _VALUES}}


async def _record(
    uow: UnitOfWork, freeze: Freeze, details: dict[str, Any], actor: Actor, now: datetime, request_id: str | None
) -> None:
    await audit.record(
        uow,
        actor=actor,
        action="config.freeze",
        target=freeze.reference,
        now=now,
        request_id=request_id,
        details=details,
    )

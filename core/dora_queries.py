"""The DORA metrics of a scope and window, as the spec's object, computed by the store (``uow.metrics``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.dora import Scope, ScopeKind, Window, assemble
from core.errors import UsageError
from core.syntax import shown

if TYPE_CHECKING:
    from core.ports import UnitOfWork

NAMES_LISTED = 10


async def metrics(uow: UnitOfWork, scope: Scope, window: Window) -> dict[str, Any]:
    """The ``dora-bot-spec/1.0`` object for ``scope`` over ``window``; a team or service must exist."""
    await require_scope(uow, scope)
    inputs = await uow.metrics.inputs(scope, window)
    return assemble(inputs, scope, window)


async def require_scope(uow: UnitOfWork, scope: Scope) -> None:
    """An unknown team or service is refused with the names that do exist."""
    if scope.kind is ScopeKind.ORG or scope.name is None:
        return
    kind = scope.kind.value
    if scope.kind is ScopeKind.TEAM:
        if await uow.teams.get(scope.name) is not None:
            return
        names = [team.name for team in await uow.teams.list()]
    else:
        if await uow.services.get(scope.name) is not None:
            return
        names = [service.name for service in await uow.services.list()]
    if not names:
        hint = f"There are no {kind}s yet: use `org`, or import history first."
    else:
        listed = ", ".join(f"`{kind}:{name}`" for name in sorted(names)[:NAMES_LISTED])
        more = f" and {len(names) - NAMES_LISTED} more" if len(names) > NAMES_LISTED else ""
        hint = f"Use `org` or one of {listed}{more}."
    raise UsageError(f"There is no {kind} {shown(scope.name)}.", hint=hint)

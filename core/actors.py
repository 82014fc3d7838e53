"""Who is acting: a Slack user id resolved to a role."""

from __future__ import annotations

from collections.abc import Collection

from core.model import Actor, Role, Source
from core.ports import UnitOfWork


async def resolve_actor(
    uow: UnitOfWork,
    *,
    user_id: str,
    admins: Collection[str],
    default_role: Role,
    source: Source = Source.SLACK,
    name: str | None = None,
) -> Actor:
    """Configured admins are always admins; known users have their stored role; others the default role."""
    if user_id in admins:
        return Actor(user_id=user_id, role=Role.ADMIN, name=name, source=source)
    user = await uow.users.get(user_id)
    if user is not None:
        return Actor(user_id=user_id, role=user.role, name=name or user.name, source=source)
    return Actor(user_id=user_id, role=default_role, name=name, source=source)

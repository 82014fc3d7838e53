"""The one permission matrix of releasebot."""

from __future__ import annotations

from enum import StrEnum

from core.errors import PermissionDenied
from core.model import Actor, Role


class Permission(StrEnum):
    VIEW = "view status and history"
    CREATE_RELEASE = "create releases"
    DEPLOY = "request deployments"
    DEPLOY_PRODUCTION = "request production deployments"
    APPROVE = "approve deployments"
    REJECT = "reject deployments"
    ROLLBACK = "roll back deployments"
    CANCEL = "cancel deployments"
    LOCK = "lock environments"
    UNLOCK = "unlock environments"
    FREEZE = "freeze environments"
    BREAK_LOCK = "break someone else's lock"
    MANAGE_CONFIG = "manage configuration (teams, services, environments, users, policies)"
    READ_AUDIT = "read the audit log"
    EXPORT_AUDIT = "export the audit log"
    SEE_METRICS = "see DORA metrics"
    MANAGE_RUNBOOKS = "write runbooks"
    REPORT_INCIDENT = "attribute incidents"


_EVERYONE = {Permission.VIEW}
_ANALYST = _EVERYONE | {Permission.SEE_METRICS, Permission.READ_AUDIT, Permission.EXPORT_AUDIT}
_DEVELOPER = _EVERYONE | {
    Permission.SEE_METRICS,
    Permission.CREATE_RELEASE,
    Permission.DEPLOY,
    Permission.DEPLOY_PRODUCTION,
    Permission.APPROVE,
    Permission.REJECT,
    Permission.ROLLBACK,
    Permission.CANCEL,
    Permission.LOCK,
    Permission.UNLOCK,
    Permission.MANAGE_RUNBOOKS,
    Permission.REPORT_INCIDENT,
}
_ADMIN = set(Permission)

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(_ADMIN),
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.ANALYST: frozenset(_ANALYST),
    Role.VIEWER: frozenset(_EVERYONE),
}


def roles_with(permission: Permission) -> list[Role]:
    return [role for role in Role if permission in MATRIX[role]]


def can(actor: Actor, permission: Permission) -> bool:
    return permission in MATRIX[actor.role]


def require(actor: Actor, permission: Permission) -> None:
    """Raise ``PermissionDenied`` naming what was refused and which roles could do it."""
    if can(actor, permission):
        return
    allowed = ", ".join(f"{role.value}s" for role in roles_with(permission))
    raise PermissionDenied(
        f"You can't {permission.value}: your role is {actor.role.value}.",
        hint=f"Only {allowed} may do that; ask an admin (`/release user @you role <role>`) if you need it.",
    )

"""What must hold before a deployment may be requested or start: promotion order, one active
deployment, no lock held by someone else, no freeze (unless overridden)."""

from __future__ import annotations

from datetime import datetime

from core.errors import Conflict
from core.model import DeploymentStatus, Environment, FreezeWindow, Release, Service
from core.ports import UnitOfWork
from core.text import escape


class Blocked(Conflict):
    """A gate refuses the deployment; ``kind`` says which (lock, freeze, active, promotion)."""

    def __init__(self, message: str, *, kind: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind


async def check_promotion(uow: UnitOfWork, *, service: Service, release: Release, environment: Environment) -> None:
    """An environment may require the same version to have succeeded in a named earlier environment."""
    required = environment.policy.requires_env
    if not required:
        return
    done = await uow.deployments.search(service=service.name, environment=required, limit=500)
    if any(d.version == release.version and d.status is DeploymentStatus.SUCCESS for d in done):
        return
    raise Blocked(
        f"{escape(service.name)} `{escape(release.version)}` has not succeeded in {escape(required)} yet, and "
        f"{escape(environment.name)} requires it.",
        kind="promotion",
        hint=f"Deploy it there first: `/release deploy {escape(service.name)} {escape(release.version)} to "
        f"{escape(required)}`.",
    )


async def check_lock_and_freeze(
    uow: UnitOfWork,
    *,
    actor_id: str,
    service: Service,
    environment: Environment,
    now: datetime,
    freeze_overridden: bool,
) -> None:
    from core.freezes import active_freeze, describe_freeze
    from core.locks import blocking_lock, describe_lock

    lock = await blocking_lock(uow, actor_id=actor_id, service=service.name, environment=environment.name, now=now)
    if lock is not None:
        raise Blocked(
            f"{escape(environment.name)} is {describe_lock(lock)}.",
            kind="lock",
            hint="Ask the owner to unlock it (`/release unlock ...`), or wait until it expires.",
        )
    if freeze_overridden:
        return
    window = await active_freeze(uow, environment=environment.name, now=now)
    if window is not None:
        raise Blocked(
            f"{escape(environment.name)} is {describe_freeze(window)}.",
            kind="freeze",
            hint="Wait for the freeze to end, or an admin may override it with "
            "`--override-freeze <reason>` (a second admin must approve).",
        )


async def current_freeze(uow: UnitOfWork, *, environment: str, now: datetime) -> FreezeWindow | None:
    from core.freezes import active_freeze

    return await active_freeze(uow, environment=environment, now=now)

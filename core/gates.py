"""What must hold before a deployment may be requested or start: promotion order, one active
deployment, no lock held by someone else, no freeze (unless overridden), no release marked bad (unless
overridden)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import Conflict
from core.model import Actor, DeploymentStatus, Environment, FreezeWindow, Release, ReleaseStatus, Rollback, Service
from core.ports import UnitOfWork
from core.text import escape, mention, slack_date


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


async def describe_marking(uow: UnitOfWork, rollback: Rollback | None) -> str:
    """How a release came to be marked bad: ``<@U…> rolled back D-2 to `v1` with D-3 on …: reason``."""
    if rollback is None:
        return "it was marked bad"
    target = await uow.deployments.get(rollback.deployment_id) if rollback.deployment_id else None
    to = f" to `{escape(target.version)}`" if target else ""
    text = (
        f"{mention(rollback.initiated_by)} rolled back D-{rollback.from_deployment_id}{to} with "
        f"D-{rollback.deployment_id} on {slack_date(rollback.created_at)}"
    )
    return f"{text}: {escape(rollback.reason)}" if rollback.reason else text


async def check_bad_release(
    uow: UnitOfWork, *, actor: Actor, service: Service, release: Release, environment: Environment, override: str | None
) -> dict[str, Any] | None:
    """A release marked bad by a rollback is deployed again only with ``--override-bad <reason>``; returns the
    bypass to record then (None when the release is not bad: the override is not needed)."""
    if release.status is not ReleaseStatus.BAD:
        return None
    assert release.id is not None
    rollback = await uow.rollbacks.marking(release.id)
    if override is None:
        raise Blocked(
            f"{escape(service.name)} `{escape(release.version)}` is marked bad: "
            f"{await describe_marking(uow, rollback)}.",
            kind="bad_release",
            hint="Deploy another version, or if you must: `/release deploy "
            f"{escape(service.name)} {escape(release.version)} to {escape(environment.name)} --override-bad <reason>`.",
        )
    return {
        "kind": "bad_release",
        "by": actor.user_id,
        "reason": override,
        "release": release.reference,
        "rollback": f"D-{rollback.deployment_id}" if rollback else None,
    }

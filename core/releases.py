"""Release use cases."""

from __future__ import annotations

from datetime import datetime

from core import audit
from core.errors import Conflict, NotFound
from core.model import Actor, Release, Service
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.text import escape


async def find_service(uow: UnitOfWork, name: str) -> Service:
    service = await uow.services.get(name)
    if service is None or not service.active:
        known = [s.name for s in await uow.services.list() if s.active]
        listed = ", ".join(f"`{escape(s)}`" for s in known[:20]) or "none yet"
        raise NotFound(
            f"There is no service `{escape(name)}`.",
            hint=f"Known services: {listed}. An admin adds one with "
            "`/release service add <name> team <team> channel #channel`.",
        )
    return service


async def create_release(
    uow: UnitOfWork,
    *,
    actor: Actor,
    service: str,
    version: str,
    commit: str | None,
    notes: str | None,
    now: datetime,
    request_id: str | None,
    committed_at: datetime | None = None,
) -> Release:
    """A version exists once per service; creating it again is refused with the existing release."""
    require(actor, Permission.CREATE_RELEASE)
    svc = await find_service(uow, service)
    existing = await uow.releases.get(svc.name, version)
    if existing is not None:
        raise Conflict(
            f"`{escape(svc.name)}` `{escape(version)}` already exists ({existing.reference}, "
            f"created by <@{existing.created_by}>).",
            hint=f"Deploy it with `/release deploy {escape(svc.name)} {escape(version)} to <env>`, "
            "or create a new version.",
        )
    release = await uow.releases.add(
        Release(
            service=svc.name,
            version=version,
            commit_sha=commit,
            committed_at=committed_at,
            notes=notes,
            created_by=actor.user_id,
            created_at=now,
        )
    )
    await audit.record(
        uow,
        actor=actor,
        action="release.create",
        target=release.reference,
        now=now,
        request_id=request_id,
        details={"service": svc.name, "version": version, "commit": commit, "notes": notes},
    )
    return release

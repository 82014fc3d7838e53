"""The dry run of a deployment request: what ``/release deploy`` would do, computed by the same gates and
stored nowhere."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from core import gates
from core.deployments import describe_active, find_environment, find_release
from core.errors import NotFound, ReleasebotError
from core.locks import describe_lock
from core.model import (
    DEPLOY_KIND,
    Actor,
    Deployment,
    Environment,
    FreezeWindow,
    Lock,
    Release,
    Role,
    Runbook,
    Service,
)
from core.permissions import Permission, require
from core.policies import describe_approvers
from core.ports import UnitOfWork
from core.releases import find_service
from core.text import escape

RUNBOOKS_MAX = 3
SERVICE, VERSION, ENVIRONMENT = "service", "version", "environment"
# The input each kind of blocker is about: a bad release is the version's fault, the rest the environment's.
BLOCKER_FIELDS = {"bad_release": VERSION}


class RequestInputError(ReleasebotError):
    """A deployment request names something that does not exist; ``field`` says which input (``service``,
    ``version`` or ``environment``), so a form can show the message on that field."""

    def __init__(self, field: str, error: ReleasebotError) -> None:
        super().__init__(error.message, hint=error.hint)
        self.field = field


@dataclass(frozen=True)
class Blocker:
    """One reason the request would be refused now: ``kind`` is lock, freeze, freeze_override, active,
    promotion or bad_release; ``message`` is mrkdwn, user text escaped."""

    kind: str
    message: str
    hint: str | None = None

    @property
    def field(self) -> str:
        return BLOCKER_FIELDS.get(self.kind, ENVIRONMENT)


@dataclass(frozen=True)
class DeploymentPreview:
    """Everything a deployment request would meet, as of ``now``."""

    actor: Actor
    service: Service
    environment: Environment
    release: Release
    current: Deployment | None  # the last successful deployment there: what runs now
    compare_url: str | None
    locks: list[Lock]  # held by someone else: they block
    own_locks: list[Lock]  # held by the actor: they let the actor through
    freeze: FreezeWindow | None
    freeze_overridden: bool  # an admin's override: the request would wait for a second admin's approval
    active: Deployment | None
    blockers: list[Blocker]
    approvals_required: int
    approvers: str
    requires_env: str | None
    runbooks: list[Runbook] = field(default_factory=list)
    override_freeze: str | None = None
    override_bad: str | None = None

    @property
    def allowed(self) -> bool:
        return not self.blockers

    @property
    def needs_approval(self) -> bool:
        return self.approvals_required > 0 or self.freeze_overridden


def repository_link(repo_url: str | None, old_sha: str | None, new_sha: str | None) -> str | None:
    """A compare link (both commits known) or a commit link (only the new one) on GitHub or GitLab; None for
    other hosts or without the commits. ``repo_url`` was validated when the service was declared."""
    if not repo_url or not new_sha:
        return None
    base = repo_url.strip().rstrip("/").removesuffix(".git")
    parts = urlsplit(base)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or parts.path.count("/") < 2:
        return None
    if "github" in host:
        prefix = f"{base}/"
    elif "gitlab" in host:
        prefix = f"{base}/-/"
    else:
        return None
    if old_sha and old_sha != new_sha:
        return f"{prefix}compare/{old_sha}...{new_sha}"
    return f"{prefix}commit/{new_sha}"


async def _lookup(
    uow: UnitOfWork, *, service: str, version: str, environment: str
) -> tuple[Service, Environment, Release]:
    """The named service, environment and release; a missing one raises ``RequestInputError`` naming it."""
    try:
        svc = await find_service(uow, service)
    except NotFound as error:
        raise RequestInputError(SERVICE, error) from None
    try:
        env = await find_environment(uow, environment)
    except NotFound as error:
        raise RequestInputError(ENVIRONMENT, error) from None
    try:
        release = await find_release(uow, svc, version)
    except NotFound as error:
        raise RequestInputError(VERSION, error) from None
    return svc, env, release


async def _gate(blockers: list[Blocker], check: Awaitable[object]) -> None:
    """Run one gate of ``core.gates``; its refusal becomes a blocker instead of an error."""
    try:
        await check
    except gates.Blocked as refusal:
        blockers.append(Blocker(refusal.kind, refusal.message, refusal.hint))


async def _runbooks(uow: UnitOfWork, service: str, environment: str, text: str) -> list[Runbook]:
    try:
        from core.runbooks import best_runbooks
    except ImportError:  # pragma: no cover - a build without runbooks
        return []
    return list(await best_runbooks(uow, service, environment, text, RUNBOOKS_MAX))


def _lock_blockers(environment: Environment, locks: Sequence[Lock]) -> list[Blocker]:
    return [
        Blocker(
            "lock",
            f"{escape(environment.name)} is {describe_lock(lock)}.",
            "Ask the owner to unlock it (`/release unlock ...`), or wait until it expires.",
        )
        for lock in locks
    ]


def _freeze_blockers(
    actor: Actor, environment: Environment, window: FreezeWindow | None, override: str | None
) -> list[Blocker]:
    from core.freezes import describe_freeze

    if window is None:
        return []
    if override is not None and actor.role is not Role.ADMIN:
        return [Blocker("freeze_override", "Only admins may override a freeze.", "Ask an admin, or wait.")]
    if override is not None:
        return []
    return [
        Blocker(
            "freeze",
            f"{escape(environment.name)} is {describe_freeze(window)}.",
            "Wait for the freeze to end, or an admin may override it with "
            "`--override-freeze <reason>` (a second admin must approve).",
        )
    ]


async def preview_deployment(
    uow: UnitOfWork,
    *,
    actor: Actor,
    service: str,
    version: str,
    environment: str,
    now: datetime,
    override_freeze: str | None = None,
    override_bad: str | None = None,
) -> DeploymentPreview:
    """What requesting this deployment would meet, without storing anything.

    The same rules as ``core.deployments.request_deployment``: the actor must be allowed to deploy there
    (else ``PermissionDenied``) and the service, environment and release must exist (else
    ``RequestInputError`` naming the input); every other refusal (a release marked bad, the promotion
    order, an active deployment, a lock held by someone else, a freeze) is listed as a blocker, all of
    them at once, from the gates of ``core.gates``.
    """
    require(actor, Permission.DEPLOY)
    svc, env, release = await _lookup(uow, service=service, version=version, environment=environment)
    if env.is_production:
        require(actor, Permission.DEPLOY_PRODUCTION)
    blockers: list[Blocker] = []
    await _gate(
        blockers,
        gates.check_bad_release(uow, actor=actor, service=svc, release=release, environment=env, override=override_bad),
    )
    await _gate(blockers, gates.check_promotion(uow, service=svc, release=release, environment=env))
    active = await uow.deployments.active(svc.name, env.name)
    if active is not None:
        blockers.append(
            Blocker(
                "active",
                f"{escape(svc.name)} already has an active deployment to {escape(env.name)}: "
                f"{describe_active(active)}.",
                "Wait for it to finish, then try again. `/release status` shows where things stand.",
            )
        )
    # The lock rule of ``core.locks.blocking_lock``, keeping every lock in the way rather than the first.
    held = list(await uow.locks.active(env.name, svc.name, now=now))
    locks = [lock for lock in held if lock.owner != actor.user_id]
    blockers += _lock_blockers(env, locks)
    window = await gates.current_freeze(uow, environment=env.name, now=now)
    blockers += _freeze_blockers(actor, env, window, override_freeze)
    current = {d.environment: d for d in await uow.deployments.current_versions(svc.name)}.get(env.name)
    return DeploymentPreview(
        actor=actor,
        service=svc,
        environment=env,
        release=release,
        current=current,
        compare_url=repository_link(svc.repo_url, current.commit_sha if current else None, release.commit_sha),
        locks=locks,
        own_locks=[lock for lock in held if lock.owner == actor.user_id],
        freeze=window,
        freeze_overridden=window is not None and override_freeze is not None,
        active=active,
        blockers=blockers,
        approvals_required=env.policy.approvals_for(DEPLOY_KIND),
        approvers=describe_approvers(env),
        requires_env=env.policy.requires_env,
        runbooks=await _runbooks(uow, svc.name, env.name, release.notes or ""),
        override_freeze=override_freeze,
        override_bad=override_bad,
    )

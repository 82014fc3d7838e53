"""A service's deployment history, and the chain of releases that were live in one environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.deployments import find_environment
from core.errors import Invalid
from core.model import ROLLBACK_KIND, Actor, Deployment, DeploymentStatus, Environment, Service
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.releases import find_service

HISTORY_DEFAULT = 20
HISTORY_MAX = 100

OUTCOMES = {
    DeploymentStatus.PENDING_APPROVAL: "waiting for approval",
    DeploymentStatus.QUEUED: "queued",
    DeploymentStatus.RUNNING: "in progress",
    DeploymentStatus.SUCCESS: "success",
    DeploymentStatus.FAILED: "failed",
    DeploymentStatus.ROLLED_BACK: "rolled back",
    DeploymentStatus.REJECTED: "rejected",
    DeploymentStatus.EXPIRED: "expired",
    DeploymentStatus.CANCELLED: "cancelled",
}


@dataclass(frozen=True)
class DeploymentRecord:
    """One deployment as the history shows it: who approved it and, for rollbacks, what was rolled back."""

    deployment: Deployment
    approvers: tuple[str, ...] = ()
    rolled_back_version: str | None = None  # a rollback: the version of the deployment it rolled back
    rolled_back_by: int | None = None  # rolled back: the deployment that carried the rollback out

    @property
    def is_rollback(self) -> bool:
        return self.deployment.kind == ROLLBACK_KIND


@dataclass(frozen=True)
class ChainStep:
    """A successful deployment that put a release live in an environment."""

    deployment_id: int
    release_id: int
    version: str
    kind: str
    finished_at: datetime

    @property
    def reference(self) -> str:
        return f"D-{self.deployment_id}"


@dataclass(frozen=True)
class ChainLink:
    """A release that was live, and the one live before it (None: nothing had succeeded there before)."""

    step: ChainStep
    predecessor: ChainStep | None


@dataclass(frozen=True)
class ServiceHistory:
    service: Service
    environment: Environment | None
    limit: int
    records: list[DeploymentRecord] = field(default_factory=list)
    chain: list[ChainLink] = field(default_factory=list)


def outcome(deployment: Deployment) -> str:
    """The outcome in words; a running deployment someone asked to cancel is ``cancelling``."""
    if deployment.status is DeploymentStatus.RUNNING and deployment.cancel_requested:
        return "cancelling"
    return OUTCOMES[deployment.status]


def humanise(seconds: float) -> str:
    """``42s``, ``3m 20s``, ``2h 5m``, ``1d 4h``: the two largest units, rounded down; under a second is
    ``under 1s``."""
    left = int(seconds)
    if left < 1:
        return "under 1s"
    counts: list[tuple[int, str]] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        counts.append((count, unit))
    largest = next(index for index, (count, _) in enumerate(counts) if count)
    return " ".join(f"{count}{unit}" for count, unit in counts[largest : largest + 2] if count)


def duration(deployment: Deployment, now: datetime) -> str | None:
    """``took 1m 30s`` from start to finish, ``running for 4m`` while it runs; None when it never started."""
    if deployment.started_at is None:
        return None
    if deployment.finished_at is not None:
        return f"took {humanise((deployment.finished_at - deployment.started_at).total_seconds())}"
    if deployment.is_active:
        return f"running for {humanise((now - deployment.started_at).total_seconds())}"
    return None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= HISTORY_MAX:
        raise Invalid(
            f"{limit} is out of range: the history shows 1 to {HISTORY_MAX} deployments.",
            hint=f"For example `limit {HISTORY_DEFAULT}`.",
        )
    return limit


def chain_links(steps: list[ChainStep], limit: int) -> list[ChainLink]:
    """Pair each of the first ``limit`` steps (newest first) with the one after it: its predecessor."""
    return [
        ChainLink(step, steps[index + 1] if index + 1 < len(steps) else None)
        for index, step in enumerate(steps[:limit])
    ]


async def service_history(
    uow: UnitOfWork, *, actor: Actor, service: str, environment: str | None, limit: int = HISTORY_DEFAULT
) -> ServiceHistory:
    """The service's deployments and rollbacks, newest first, at most ``limit`` (1 to 100); with an
    environment, only there, and the chain of releases live there, each with the release live before it.

    Anyone may read it: it changes nothing."""
    require(actor, Permission.VIEW)
    check_limit(limit)
    svc = await find_service(uow, service)
    env = await find_environment(uow, environment) if environment is not None else None
    records = await uow.history.deployments(svc.name, env.name if env else None, limit=limit)
    chain: list[ChainLink] = []
    if env is not None:
        # One step more than shown: the last one shown gets its predecessor too.
        steps = await uow.history.release_chain(svc.name, env.name, limit=limit + 1)
        chain = chain_links(list(steps), limit)
    return ServiceHistory(service=svc, environment=env, limit=limit, records=list(records), chain=chain)

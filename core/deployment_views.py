"""Read models: what runs where, and everything one deployment's message shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.deployments import find_environment
from core.model import (
    Actor,
    Approval,
    ApprovalDecision,
    Deployment,
    DeploymentStatus,
    Environment,
    Release,
    Rollback,
    Runbook,
    Service,
    Stage,
    StageStatus,
)
from core.permissions import Permission, require
from core.policies import describe_approvers
from core.ports import UnitOfWork
from core.releases import find_service
from core.runbooks import best_runbooks, linking_text

SECOND_ADMIN = "freeze_second_admin"


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    current: dict[str, Deployment]
    active: dict[str, Deployment]


async def status(
    uow: UnitOfWork, *, actor: Actor, service: str | None
) -> tuple[list[Environment], list[ServiceStatus]]:
    """The version running in each environment, per service, and any deployment in progress."""
    require(actor, Permission.VIEW)
    environments = sorted(await uow.environments.list(), key=lambda e: (e.order, e.name))
    services = [await find_service(uow, service)] if service else [s for s in await uow.services.list() if s.active]
    current = await uow.deployments.current_versions(service)
    active = await uow.deployments.active_list(service)
    return environments, [
        ServiceStatus(
            svc,
            {d.environment: d for d in current if d.service == svc.name},
            {d.environment: d for d in active if d.service == svc.name},
        )
        for svc in sorted(services, key=lambda s: s.name)
    ]


@dataclass
class DeploymentView:
    """Everything the deployment's evolving message shows, read at the moment it is rendered."""

    deployment: Deployment
    environment: Environment
    release: Release | None
    previous_version: str | None
    approvals: list[Approval] = field(default_factory=list)
    rejections: list[Approval] = field(default_factory=list)
    approvers_text: str = ""
    stages: list[Stage] = field(default_factory=list)
    rollback: Rollback | None = None  # the rollback this deployment carries out
    rolled_back_by: Rollback | None = None  # the rollback that rolled this deployment back
    runbooks: list[Runbook] = field(default_factory=list)  # linked from a failure's or a rollback's message

    @property
    def admin_approval_missing(self) -> bool:
        """A freeze override also needs an approval from a second admin."""
        needs = self.deployment.bypass("freeze") is not None
        return needs and not any(a.bypass == SECOND_ADMIN for a in self.approvals)

    @property
    def approvals_needed(self) -> int:
        required = self.environment.policy.approvals_for(self.deployment.kind)
        missing = max(0, required - len(self.approvals))
        if self.admin_approval_missing and missing == 0:
            missing = 1
        return missing


async def previous_version(uow: UnitOfWork, deployment: Deployment) -> str | None:
    """The version that succeeded in the environment most recently before this deployment; for a rollback, the
    version it rolls back."""
    if deployment.rollback_of_id is not None:
        rolled = await uow.deployments.get(deployment.rollback_of_id)
        if rolled is not None:
            return rolled.version
    if deployment.id is None:
        return None
    earlier = await uow.deployments.search(
        service=deployment.service,
        environment=deployment.environment,
        limit=1,
        before_id=deployment.id,
        status=DeploymentStatus.SUCCESS,
    )
    return earlier[0].version if earlier else None


async def describe_deployment(uow: UnitOfWork, deployment_id: int) -> DeploymentView | None:
    deployment = await uow.deployments.get(deployment_id)
    if deployment is None:
        return None
    environment = await find_environment(uow, deployment.environment)
    decisions = list(await uow.approvals.for_deployment(deployment_id))
    view = DeploymentView(
        deployment=deployment,
        environment=environment,
        release=await uow.releases.get(deployment.service, deployment.version),
        previous_version=await previous_version(uow, deployment),
        approvals=[a for a in decisions if a.decision is ApprovalDecision.APPROVED],
        rejections=[a for a in decisions if a.decision is ApprovalDecision.REJECTED],
        approvers_text=describe_approvers(environment),
        stages=list(await uow.stages.for_deployment(deployment_id)),
        rollback=await uow.rollbacks.carried_out_by(deployment_id) if deployment.rollback_of_id else None,
        rolled_back_by=(
            await uow.rollbacks.away_from(deployment_id) if deployment.status is DeploymentStatus.ROLLED_BACK else None
        ),
    )
    view.runbooks = await linked_runbooks(uow, view)
    return view


async def linked_runbooks(uow: UnitOfWork, view: DeploymentView) -> list[Runbook]:
    """A failed or rolled-back deployment, and a rollback, link the service's runbooks that best match what went
    wrong (the failing stage, the reasons given); other deployments link none."""
    deployment = view.deployment
    troubled = deployment.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK)
    if not troubled and deployment.rollback_of_id is None:
        return []
    failed = [stage for stage in view.stages if stage.status in (StageStatus.FAILED, StageStatus.CANCELLED)]
    words = linking_text(
        *(stage.name for stage in failed),
        *(stage.reason for stage in failed),
        deployment.status_reason,
        view.rollback.reason if view.rollback else None,
        view.rolled_back_by.reason if view.rolled_back_by else None,
    )
    return await best_runbooks(uow, deployment.service, deployment.environment, words)

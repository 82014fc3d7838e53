"""Read-only queries behind ``/release history`` and ``/release where``.

The release chain of an environment is one recursive CTE, the same SQL on SQLite and PostgreSQL: the anchor
is the latest successful deployment there; each step finds, for the row before it, the latest successful
deployment that finished earlier and deployed another release. Finish times strictly decrease along the
chain, so it ends; the depth column bounds it by the limit asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.history import ChainStep, DeploymentRecord
from core.model import ApprovalDecision, DeploymentStatus, Release
from storage.deployments import DeploymentRepository
from storage.repositories import ReleaseRepository
from storage.rows import ApprovalRow, DeploymentRow, EnvironmentRow, ReleaseRow, RollbackRow, ServiceRow

SUCCESS = DeploymentStatus.SUCCESS.value


class HistoryQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def deployments(self, service: str, environment: str | None, *, limit: int) -> Sequence[DeploymentRecord]:
        found = await DeploymentRepository(self.session).search(service=service, environment=environment, limit=limit)
        ids = [d.id for d in found if d.id is not None]
        approvers = await self._approvers(ids)
        rolled_back_versions = await self._versions([d.rollback_of_id for d in found if d.rollback_of_id is not None])
        rolled_back_by = await self._rolled_back_by(
            [d.id for d in found if d.id is not None and d.status is DeploymentStatus.ROLLED_BACK]
        )
        return [
            DeploymentRecord(
                deployment=d,
                approvers=tuple(approvers.get(d.id or 0, ())),
                rolled_back_version=rolled_back_versions.get(d.rollback_of_id) if d.rollback_of_id else None,
                rolled_back_by=rolled_back_by.get(d.id or 0),
            )
            for d in found
        ]

    async def _approvers(self, ids: list[int]) -> dict[int, list[str]]:
        if not ids:
            return {}
        query = (
            select(ApprovalRow.deployment_id, ApprovalRow.approver)
            .where(ApprovalRow.deployment_id.in_(ids), ApprovalRow.decision == ApprovalDecision.APPROVED.value)
            .order_by(ApprovalRow.id)
        )
        approvers: dict[int, list[str]] = {}
        for deployment_id, approver in (await self.session.execute(query)).all():
            approvers.setdefault(deployment_id, []).append(approver)
        return approvers

    async def _versions(self, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        query = (
            select(DeploymentRow.id, ReleaseRow.version)
            .join(ReleaseRow, DeploymentRow.release_id == ReleaseRow.id)
            .where(DeploymentRow.id.in_(ids))
        )
        return {deployment_id: version for deployment_id, version in (await self.session.execute(query)).all()}

    async def _rolled_back_by(self, ids: list[int]) -> dict[int, int]:
        if not ids:
            return {}
        query = (
            select(RollbackRow.from_deployment_id, RollbackRow.deployment_id)
            .where(RollbackRow.from_deployment_id.in_(ids), RollbackRow.deployment_id.is_not(None))
            .order_by(RollbackRow.id)
        )
        found = (await self.session.execute(query)).all()
        return {rolled: by for rolled, by in found if rolled is not None and by is not None}

    async def release_chain(self, service: str, environment: str, *, limit: int) -> Sequence[ChainStep]:
        if limit < 1:
            return []
        scope = await self._scope(service, environment)
        if scope is None:
            return []
        service_id, environment_id = scope
        done = aliased(DeploymentRow, name="done")

        def successful() -> ColumnElement[bool]:
            return and_(done.service_id == service_id, done.environment_id == environment_id, done.status == SUCCESS)

        latest = (
            select(done.id).where(successful()).order_by(done.finished_at.desc(), done.id.desc()).limit(1)
        ).scalar_subquery()
        anchor = select(
            DeploymentRow.id.label("deployment_id"),
            DeploymentRow.release_id.label("release_id"),
            DeploymentRow.finished_at.label("finished_at"),
            literal(1).label("depth"),
        ).where(DeploymentRow.id == latest)
        chain = anchor.cte("release_chain", recursive=True)
        earlier = (
            select(done.id)
            .where(
                successful(),
                done.release_id != chain.c.release_id,
                or_(
                    done.finished_at < chain.c.finished_at,
                    and_(done.finished_at == chain.c.finished_at, done.id < chain.c.deployment_id),
                ),
            )
            .order_by(done.finished_at.desc(), done.id.desc())
            .limit(1)
            .correlate(chain)
            .scalar_subquery()
        )
        step = (
            select(
                DeploymentRow.id,
                DeploymentRow.release_id,
                DeploymentRow.finished_at,
                (chain.c.depth + 1).label("depth"),
            )
            .select_from(chain)
            .join(DeploymentRow, DeploymentRow.id == earlier)
            .where(chain.c.depth < limit)
        )
        chain = chain.union_all(step)
        query: Select[int, int, str, str, datetime] = (
            select(
                chain.c.deployment_id, chain.c.release_id, ReleaseRow.version, DeploymentRow.kind, chain.c.finished_at
            )
            .join(ReleaseRow, ReleaseRow.id == chain.c.release_id)
            .join(DeploymentRow, DeploymentRow.id == chain.c.deployment_id)
            .order_by(chain.c.depth)
            .limit(limit)
        )
        return [
            ChainStep(deployment_id=row[0], release_id=row[1], version=row[2], kind=row[3], finished_at=row[4])
            for row in (await self.session.execute(query)).all()
        ]

    async def _scope(self, service: str, environment: str) -> tuple[int, int] | None:
        found = (
            await self.session.execute(
                select(ServiceRow.id, EnvironmentRow.id)
                .join(EnvironmentRow, EnvironmentRow.name == environment)
                .where(ServiceRow.name == service)
            )
        ).one_or_none()
        return (int(found[0]), int(found[1])) if found else None

    async def latest_release(self, service: str) -> Release | None:
        version = (
            await self.session.execute(
                select(ReleaseRow.version)
                .join(ServiceRow, ReleaseRow.service_id == ServiceRow.id)
                .where(ServiceRow.name == service)
                .order_by(ReleaseRow.created_at.desc(), ReleaseRow.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return await ReleaseRepository(self.session).get(service, version) if version is not None else None

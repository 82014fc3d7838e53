"""The deployment repository: rows mapped to core deployments, every status change conditional."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, DuplicateRequest
from core.model import (
    Deployment,
    DeploymentStatus,
)
from storage.rows import (
    DeploymentRow,
    EnvironmentRow,
    ReleaseRow,
    ServiceRow,
    TeamRow,
)

ACTIVE = [s.value for s in (DeploymentStatus.PENDING_APPROVAL, DeploymentStatus.QUEUED, DeploymentStatus.RUNNING)]


_DeploymentQuery = Select[DeploymentRow, str, str, str, str | None, str]


class DeploymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _query(self) -> _DeploymentQuery:
        return (
            select(
                DeploymentRow,
                ServiceRow.name,
                EnvironmentRow.name,
                ReleaseRow.version,
                ReleaseRow.commit_sha,
                TeamRow.name,
            )
            .join(ServiceRow, DeploymentRow.service_id == ServiceRow.id)
            .join(EnvironmentRow, DeploymentRow.environment_id == EnvironmentRow.id)
            .join(ReleaseRow, DeploymentRow.release_id == ReleaseRow.id)
            .outerjoin(TeamRow, DeploymentRow.team_id == TeamRow.id)
        )

    @staticmethod
    def _deployment(
        row: DeploymentRow, service: str, environment: str, version: str, sha: str | None, team: str | None
    ) -> Deployment:
        return Deployment(
            service=service,
            version=version,
            environment=environment,
            status=DeploymentStatus(row.status),
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            team=team,
            release_id=row.release_id,
            commit_sha=sha,
            started_at=row.started_at,
            finished_at=row.finished_at,
            idempotency_key=row.idempotency_key,
            kind=row.kind,
            expires_at=row.expires_at,
            approved_at=row.approved_at,
            status_reason=row.status_reason,
            bypasses=list(row.bypasses or []),
            rollback_of_id=row.rollback_of_id,
            cancel_requested=row.cancel_requested,
            id=row.id,
        )

    async def _many(self, query: _DeploymentQuery) -> list[Deployment]:
        return [self._deployment(*found) for found in (await self.session.execute(query)).all()]

    async def get(self, deployment_id: int) -> Deployment | None:
        found = await self._many(self._query().where(DeploymentRow.id == deployment_id))
        return found[0] if found else None

    async def active(self, service: str, environment: str) -> Deployment | None:
        query = self._query().where(
            ServiceRow.name == service, EnvironmentRow.name == environment, DeploymentRow.status.in_(ACTIVE)
        )
        found = await self._many(query)
        return found[0] if found else None

    async def active_list(self, service: str | None = None) -> Sequence[Deployment]:
        query = self._query().where(DeploymentRow.status.in_(ACTIVE))
        if service is not None:
            query = query.where(ServiceRow.name == service)
        return await self._many(query.order_by(DeploymentRow.id))

    async def add(self, deployment: Deployment) -> Deployment:
        ids = (
            await self.session.execute(
                select(ServiceRow.id, ServiceRow.team_id, EnvironmentRow.id)
                .join(EnvironmentRow, EnvironmentRow.name == deployment.environment)
                .where(ServiceRow.name == deployment.service)
            )
        ).one()
        row = DeploymentRow(
            release_id=deployment.release_id,
            service_id=ids[0],
            team_id=ids[1],
            environment_id=ids[2],
            status=deployment.status.value,
            kind=deployment.kind,
            requested_by=deployment.requested_by,
            requested_at=deployment.requested_at,
            started_at=deployment.started_at,
            finished_at=deployment.finished_at,
            idempotency_key=deployment.idempotency_key,
            expires_at=deployment.expires_at,
            status_reason=deployment.status_reason,
            rollback_of_id=deployment.rollback_of_id,
            cancel_requested=False,
            bypasses=list(deployment.bypasses),
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError as exc:
            if deployment.idempotency_key and "idempotency" in str(exc.orig).lower():
                raise DuplicateRequest(deployment.idempotency_key) from None
            raise Conflict(
                f"{deployment.service} already has an active deployment to {deployment.environment}.",
                hint="Wait for it to finish, then try again. `/release status` shows where things stand.",
            ) from None
        deployment.id = row.id
        return deployment

    async def transition(
        self,
        deployment_id: int,
        *,
        from_statuses: Sequence[DeploymentStatus],
        to_status: DeploymentStatus,
        changes: dict[str, Any] | None = None,
    ) -> bool:
        statement = (
            update(DeploymentRow)
            .where(DeploymentRow.id == deployment_id, DeploymentRow.status.in_([s.value for s in from_statuses]))
            .values(status=to_status.value, **(changes or {}))
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def request_cancel(self, deployment_id: int, *, note: str) -> bool:
        statement = (
            update(DeploymentRow)
            .where(
                DeploymentRow.id == deployment_id,
                DeploymentRow.status == DeploymentStatus.RUNNING.value,
                DeploymentRow.cancel_requested.is_(False),
            )
            .values(cancel_requested=True, status_reason=note)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def current_versions(self, service: str | None = None) -> Sequence[Deployment]:
        latest = (
            select(func.max(DeploymentRow.id).label("id"))
            .where(DeploymentRow.status == DeploymentStatus.SUCCESS.value)
            .group_by(DeploymentRow.service_id, DeploymentRow.environment_id)
        )
        if service is not None:
            latest = latest.join(ServiceRow, DeploymentRow.service_id == ServiceRow.id).where(
                ServiceRow.name == service
            )
        return await self._many(self._query().where(DeploymentRow.id.in_(latest.scalar_subquery())))

    async def search(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
        status: DeploymentStatus | None = None,
    ) -> Sequence[Deployment]:
        query = self._query()
        if before_id is not None:
            query = query.where(DeploymentRow.id < before_id)
        if status is not None:
            query = query.where(DeploymentRow.status == status.value)
        if service is not None:
            query = query.where(ServiceRow.name == service)
        if environment is not None:
            query = query.where(EnvironmentRow.name == environment)
        return await self._many(query.order_by(DeploymentRow.id.desc()).limit(limit))

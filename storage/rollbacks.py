"""Rollbacks: rows mapped to core ``Rollback`` values. One rollback per carrying-out deployment (a unique
constraint); which deployment is rolled back is decided by the conditional transition to ``rolled_back``."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.errors import Conflict
from core.model import Rollback
from storage.rows import DeploymentRow, EnvironmentRow, RollbackRow, ServiceRow


def _rollback(row: RollbackRow, service: str, environment: str) -> Rollback:
    return Rollback(
        service=service,
        environment=environment,
        from_deployment_id=row.from_deployment_id,
        to_release_id=row.to_release_id,
        initiated_by=row.initiated_by,
        created_at=row.created_at,
        reason=row.reason,
        deployment_id=row.deployment_id,
        id=row.id,
    )


class RollbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _query(self) -> Select[RollbackRow, str, str]:
        return (
            select(RollbackRow, ServiceRow.name, EnvironmentRow.name)
            .join(ServiceRow, RollbackRow.service_id == ServiceRow.id)
            .join(EnvironmentRow, RollbackRow.environment_id == EnvironmentRow.id)
        )

    async def _one(self, query: Select[RollbackRow, str, str]) -> Rollback | None:
        found = (await self.session.execute(query.order_by(RollbackRow.id.desc()).limit(1))).one_or_none()
        return _rollback(*found) if found else None

    async def add(self, rollback: Rollback) -> Rollback:
        ids = (
            await self.session.execute(
                select(ServiceRow.id, EnvironmentRow.id)
                .join(EnvironmentRow, EnvironmentRow.name == rollback.environment)
                .where(ServiceRow.name == rollback.service)
            )
        ).one()
        row = RollbackRow(
            service_id=ids[0],
            environment_id=ids[1],
            from_deployment_id=rollback.from_deployment_id,
            to_release_id=rollback.to_release_id,
            deployment_id=rollback.deployment_id,
            reason=rollback.reason,
            initiated_by=rollback.initiated_by,
            created_at=rollback.created_at,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise Conflict(f"D-{rollback.deployment_id} already carries out a rollback.") from None
        rollback.id = row.id
        return rollback

    async def carried_out_by(self, deployment_id: int) -> Rollback | None:
        return await self._one(self._query().where(RollbackRow.deployment_id == deployment_id))

    async def away_from(self, deployment_id: int) -> Rollback | None:
        return await self._one(self._query().where(RollbackRow.from_deployment_id == deployment_id))

    async def marking(self, release_id: int) -> Rollback | None:
        rolled_back = aliased(DeploymentRow)
        query = self._query().join(rolled_back, RollbackRow.from_deployment_id == rolled_back.id)
        return await self._one(query.where(rolled_back.release_id == release_id))

"""Incidents attributed to deployments: one per deployment (a unique constraint); resolving is conditional."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.model import Incident
from storage.rows import IncidentRow


def _incident(row: IncidentRow) -> Incident:
    return Incident(
        deployment_id=row.deployment_id,
        opened_at=row.opened_at,
        opened_by=row.opened_by,
        note=row.note,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        id=row.id,
    )


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, incident: Incident) -> Incident:
        row = IncidentRow(
            deployment_id=incident.deployment_id,
            opened_at=incident.opened_at,
            opened_by=incident.opened_by,
            note=incident.note,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise Conflict(f"D-{incident.deployment_id} already has an incident.") from None
        incident.id = row.id
        return incident

    async def for_deployment(self, deployment_id: int) -> Incident | None:
        query = select(IncidentRow).where(IncidentRow.deployment_id == deployment_id)
        row = (await self.session.execute(query)).scalar_one_or_none()
        return _incident(row) if row else None

    async def resolve(self, deployment_id: int, *, by: str, now: datetime) -> bool:
        statement = (
            update(IncidentRow)
            .where(
                IncidentRow.deployment_id == deployment_id,
                IncidentRow.resolved_at.is_(None),
                IncidentRow.opened_at <= now,
            )
            .values(resolved_at=now, resolved_by=by)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

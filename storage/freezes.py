"""Freezes: rows mapped to core ``Freeze`` values; which occurrence holds when is decided in ``core.freezes``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.freezes import window_at
from core.model import Freeze, FreezeWindow
from storage.rows import EnvironmentRow, FreezeRow


def _freeze(row: FreezeRow, environment: str) -> Freeze:
    return Freeze(
        environment=environment,
        created_by=row.created_by,
        created_at=row.created_at,
        reason=row.reason,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        cron=row.cron,
        duration_s=row.duration_s,
        timezone=row.timezone,
        cancelled_at=row.cancelled_at,
        id=row.id,
    )


def _cron(expression: str) -> str:
    """The key form of an expression: fields separated by single spaces."""
    return " ".join(expression.split())


class FreezeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _query(self) -> Select[FreezeRow, str]:
        return select(FreezeRow, EnvironmentRow.name).join(
            EnvironmentRow, FreezeRow.environment_id == EnvironmentRow.id
        )

    async def _many(self, query: Select[FreezeRow, str]) -> list[Freeze]:
        return [_freeze(*found) for found in (await self.session.execute(query.order_by(FreezeRow.id))).all()]

    async def _environment_id(self, name: str) -> int:
        found = (
            await self.session.execute(select(EnvironmentRow.id).where(EnvironmentRow.name == name))
        ).scalar_one_or_none()
        if found is None:
            raise Conflict(f"There is no environment `{name}`.")
        return found

    async def get(self, freeze_id: int) -> Freeze | None:
        found = await self._many(self._query().where(FreezeRow.id == freeze_id))
        return found[0] if found else None

    async def current(self, *, now: datetime, environment: str | None = None) -> Sequence[Freeze]:
        query = self._query().where(
            FreezeRow.cancelled_at.is_(None), or_(FreezeRow.cron.is_not(None), FreezeRow.ends_at > now)
        )
        if environment is not None:
            query = query.where(EnvironmentRow.name == environment)
        return await self._many(query)

    async def windows_at(self, environment: str, *, now: datetime) -> Sequence[FreezeWindow]:
        windows = [window_at(freeze, now) for freeze in await self.current(now=now, environment=environment)]
        return [window for window in windows if window is not None]

    async def add(self, freeze: Freeze) -> Freeze:
        row = FreezeRow(
            environment_id=await self._environment_id(freeze.environment),
            starts_at=freeze.starts_at,
            ends_at=freeze.ends_at,
            cron=_cron(freeze.cron) if freeze.cron else None,
            duration_s=freeze.duration_s,
            timezone=freeze.timezone,
            reason=freeze.reason,
            created_by=freeze.created_by,
            created_at=freeze.created_at,
        )
        self.session.add(row)
        await self.session.flush()
        freeze.id = row.id
        return freeze

    async def cancel(self, freeze_id: int, *, by: str, now: datetime) -> bool:
        statement = (
            update(FreezeRow)
            .where(FreezeRow.id == freeze_id, FreezeRow.cancelled_at.is_(None))
            .values(cancelled_at=now, cancelled_by=by)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def recurring(self, environment: str | None = None) -> Sequence[Freeze]:
        query = self._query().where(FreezeRow.cron.is_not(None), FreezeRow.cancelled_at.is_(None))
        if environment is not None:
            query = query.where(EnvironmentRow.name == environment)
        return await self._many(query)

    async def upsert_recurring(self, freeze: Freeze) -> bool:
        """Keyed by (environment, cron); an earlier cancelled one comes back. True when anything changed."""
        if not freeze.cron:
            raise ValueError("upsert_recurring needs a cron expression")
        environment_id = await self._environment_id(freeze.environment)
        query = select(FreezeRow).where(
            FreezeRow.environment_id == environment_id, FreezeRow.cron == _cron(freeze.cron)
        )
        row = (await self.session.execute(query.order_by(FreezeRow.id).limit(1))).scalar_one_or_none()
        if row is None:
            freeze.starts_at = freeze.ends_at = None
            await self.add(freeze)
            return True
        values = {
            "duration_s": freeze.duration_s,
            "timezone": freeze.timezone,
            "reason": freeze.reason,
            "cancelled_at": None,
            "cancelled_by": None,
        }
        changed = False
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
                changed = True
        if changed:
            await self.session.flush()
        freeze.id = row.id
        return changed

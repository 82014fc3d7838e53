"""Locks: rows mapped to core ``Lock`` values. The partial unique index ``uq_locks_one_active`` keeps one
unreleased lock per scope; every release and reminder is a conditional update, so two replicas never both
act on the same lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.model import Lock
from storage.rows import EnvironmentRow, LockRow, ServiceRow


def scope_key(environment_id: int, service_id: int | None) -> str:
    """What the unique index compares: the environment, or one service in it."""
    return f"env:{environment_id}" if service_id is None else f"env:{environment_id}:svc:{service_id}"


def _lock(row: LockRow, environment: str, service: str | None) -> Lock:
    return Lock(
        environment=environment,
        owner=row.owner,
        created_at=row.created_at,
        service=service,
        reason=row.reason,
        expires_at=row.expires_at,
        released_at=row.released_at,
        id=row.id,
    )


def _unexpired(now: datetime) -> Any:
    return or_(LockRow.expires_at.is_(None), LockRow.expires_at > now)


class LockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _query(self) -> Select[LockRow, str, str]:
        return (
            select(LockRow, EnvironmentRow.name, ServiceRow.name)
            .join(EnvironmentRow, LockRow.environment_id == EnvironmentRow.id)
            .outerjoin(ServiceRow, LockRow.service_id == ServiceRow.id)
        )

    async def _many(self, query: Select[LockRow, str, str]) -> list[Lock]:
        return [_lock(*found) for found in (await self.session.execute(query.order_by(LockRow.id))).all()]

    async def _scope_ids(self, environment: str, service: str | None) -> tuple[int, int | None] | None:
        env_id = (
            await self.session.execute(select(EnvironmentRow.id).where(EnvironmentRow.name == environment))
        ).scalar_one_or_none()
        if env_id is None:
            return None
        if service is None:
            return env_id, None
        service_id = (
            await self.session.execute(select(ServiceRow.id).where(ServiceRow.name == service))
        ).scalar_one_or_none()
        return (env_id, service_id) if service_id is not None else None

    async def get(self, lock_id: int) -> Lock | None:
        found = await self._many(self._query().where(LockRow.id == lock_id))
        return found[0] if found else None

    async def active(self, environment: str, service: str | None, *, now: datetime) -> Sequence[Lock]:
        scope: ColumnElement[bool] = LockRow.service_id.is_(None)
        if service is not None:
            scope = or_(scope, ServiceRow.name == service)
        return await self._many(
            self._query().where(
                EnvironmentRow.name == environment, LockRow.released_at.is_(None), _unexpired(now), scope
            )
        )

    async def list_active(self, *, now: datetime) -> Sequence[Lock]:
        return await self._many(self._query().where(LockRow.released_at.is_(None), _unexpired(now)))

    async def holding(self, environment: str, service: str | None, *, now: datetime) -> Lock | None:
        ids = await self._scope_ids(environment, service)
        if ids is None:
            return None
        query = self._query().where(
            LockRow.scope_key == scope_key(*ids), LockRow.released_at.is_(None), _unexpired(now)
        )
        found = await self._many(query)
        return found[0] if found else None

    async def add(self, lock: Lock) -> Lock:
        ids = await self._scope_ids(lock.environment, lock.service)
        if ids is None:
            raise Conflict(f"`{lock.environment}` or `{lock.service}` no longer exists.")
        row = LockRow(
            scope_key=scope_key(*ids),
            environment_id=ids[0],
            service_id=ids[1],
            owner=lock.owner,
            reason=lock.reason,
            created_at=lock.created_at,
            expires_at=lock.expires_at,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise Conflict("That scope was locked by someone else a moment ago.") from None
        lock.id = row.id
        return lock

    async def _conditional(self, lock_id: int, condition: Any, **values: Any) -> bool:
        statement = (
            update(LockRow)
            .where(LockRow.id == lock_id, condition)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def release(self, lock_id: int, *, by: str, now: datetime) -> bool:
        return await self._conditional(lock_id, LockRow.released_at.is_(None), released_at=now, released_by=by)

    async def release_expired(
        self, *, now: datetime, environment: str | None = None, service: str | None = None
    ) -> Sequence[Lock]:
        query = self._query().where(LockRow.released_at.is_(None), LockRow.expires_at <= now)
        if environment is not None:
            ids = await self._scope_ids(environment, service)
            if ids is None:
                return []
            query = query.where(LockRow.scope_key == scope_key(*ids))
        released = []
        for lock in await self._many(query):
            assert lock.id is not None
            if await self._conditional(lock.id, LockRow.released_at.is_(None), released_at=now, released_by=None):
                lock.released_at = now
                released.append(lock)
        return released

    async def claim_reminders(self, *, now: datetime, until: datetime) -> Sequence[Lock]:
        query = self._query().where(
            LockRow.released_at.is_(None),
            LockRow.reminded_at.is_(None),
            LockRow.expires_at > now,
            LockRow.expires_at <= until,
        )
        claimed = []
        for lock in await self._many(query):
            assert lock.id is not None and lock.expires_at is not None
            if lock.expires_at - lock.created_at <= until - now:
                continue  # the whole lock fits in the reminder window: nothing to remind of
            unreminded = LockRow.reminded_at.is_(None) & LockRow.released_at.is_(None)
            if await self._conditional(lock.id, unreminded, reminded_at=now):
                claimed.append(lock)
        return claimed

"""App Home queries: recent viewers, what was published to them, and a person's own deployments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.model import Deployment
from storage.deployments import DeploymentRepository
from storage.rows import DeploymentRow, HomeViewRow


@dataclass(frozen=True)
class HomeViewer:
    slack_user_id: str
    opened_at: datetime
    published_at: datetime | None
    digest: str | None


class HomeQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def requested_by(self, slack_user_id: str, *, limit: int) -> Sequence[Deployment]:
        repository = DeploymentRepository(self.session)
        query = repository._query().where(DeploymentRow.requested_by == slack_user_id)
        return await repository._many(query.order_by(DeploymentRow.id.desc()).limit(limit))

    async def latest(self) -> Sequence[Deployment]:
        repository = DeploymentRepository(self.session)
        newest = select(func.max(DeploymentRow.id)).group_by(DeploymentRow.service_id, DeploymentRow.environment_id)
        return await repository._many(repository._query().where(DeploymentRow.id.in_(newest)))

    async def opened(self, slack_user_id: str, *, now: datetime) -> None:
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(HomeViewRow).values(slack_user_id=slack_user_id, opened_at=now)
        statement = statement.on_conflict_do_update(index_elements=[HomeViewRow.slack_user_id], set_={"opened_at": now})
        await self.session.execute(statement)

    async def viewers(self, *, since: datetime) -> Sequence[HomeViewer]:
        rows = (
            await self.session.execute(
                select(HomeViewRow).where(HomeViewRow.opened_at >= since).order_by(HomeViewRow.slack_user_id)
            )
        ).scalars()
        return [HomeViewer(row.slack_user_id, row.opened_at, row.published_at, row.digest) for row in rows]

    async def claim_publish(self, slack_user_id: str, *, digest: str, now: datetime, not_before: datetime) -> bool:
        statement = (
            update(HomeViewRow)
            .where(
                HomeViewRow.slack_user_id == slack_user_id,
                or_(HomeViewRow.digest.is_(None), HomeViewRow.digest != digest),
                or_(HomeViewRow.published_at.is_(None), HomeViewRow.published_at <= not_before),
            )
            .values(digest=digest, published_at=now)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def published(self, slack_user_id: str, *, digest: str | None, now: datetime) -> None:
        await self.session.execute(
            update(HomeViewRow)
            .where(HomeViewRow.slack_user_id == slack_user_id)
            .values(digest=digest, published_at=now)
            .execution_options(synchronize_session=False)
        )

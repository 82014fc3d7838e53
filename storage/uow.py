"""The unit of work: one session, one transaction, all repositories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.approvals import ApprovalRepository
from storage.audit import AuditRepository
from storage.deployments import DeploymentRepository
from storage.digest import DigestRepository
from storage.dora import MetricsQueries
from storage.dora_import import HistoryImportStore
from storage.freezes import FreezeRepository
from storage.history import HistoryQueries
from storage.home import HomeQueries
from storage.incidents import IncidentRepository
from storage.locks import LockRepository
from storage.outbox import OutboxRepository
from storage.repositories import (
    EnvironmentRepository,
    ReleaseRepository,
    RequestLedger,
    ServiceRepository,
    TeamRepository,
    UserRepository,
)
from storage.rollbacks import RollbackRepository
from storage.runbooks import RunbookRepository
from storage.stages import StageRepository


class SqlUnitOfWork:
    """``async with uow:`` opens a transaction; ``commit()`` ends it; leaving without commit rolls back."""

    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    async def __aenter__(self) -> SqlUnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        self.teams = TeamRepository(self.session)
        self.users = UserRepository(self.session)
        self.services = ServiceRepository(self.session)
        self.environments = EnvironmentRepository(self.session)
        self.releases = ReleaseRepository(self.session)
        self.deployments = DeploymentRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.outbox = OutboxRepository(self.session, now=self._clock())
        self.requests = RequestLedger(self.session)
        self.home = HomeQueries(self.session)
        self.locks = LockRepository(self.session)
        self.freezes = FreezeRepository(self.session)
        self.approvals = ApprovalRepository(self.session)
        self.stages = StageRepository(self.session)
        self.rollbacks = RollbackRepository(self.session)
        self.incidents = IncidentRepository(self.session)
        self.runbooks = RunbookRepository(self.session)
        self.history = HistoryQueries(self.session)
        self.digests = DigestRepository(self.session)
        self.metrics = MetricsQueries(self.session)
        self.imports = HistoryImportStore(self.session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.session.in_transaction():
                await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


def unit_of_work_factory(
    sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(sessions, clock)

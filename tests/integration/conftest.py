from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core import configuration
from core.model import Actor, Role, Source
from storage.engine import session_factory
from storage.uow import SqlUnitOfWork, unit_of_work_factory

ADMIN = Actor(user_id="U0ADMIN001", role=Role.ADMIN, source=Source.CLI)
DEV = Actor(user_id="U0DEV00001", role=Role.DEVELOPER)
VIEWER = Actor(user_id="U0VIEW0001", role=Role.VIEWER)


class FrozenClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def uow(migrated_engine: AsyncEngine, clock: FrozenClock) -> Callable[[], SqlUnitOfWork]:
    return unit_of_work_factory(session_factory(migrated_engine), clock)


@pytest.fixture
async def workspace(uow: Callable[[], SqlUnitOfWork], clock: FrozenClock) -> Callable[[], SqlUnitOfWork]:
    """A team, a service and two environments."""
    common = {"actor": ADMIN, "now": clock(), "request_id": "setup"}
    async with uow() as work:
        await configuration.add_team(work, name="payments", channel="C0PAYMENTS1", timezone="UTC", **common)
        await configuration.add_service(
            work, name="payments-api", team="payments", channel="C0PAYMENTS1", repo=None, **common
        )
        await configuration.add_environment(work, name="staging", production=False, order=1, **common)
        await configuration.add_environment(work, name="production", production=True, order=2, **common)
        await work.commit()
    return uow

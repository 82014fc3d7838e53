"""The small demo workspace the offline console creates the first time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core import configuration
from core.model import Actor, Role, Source
from core.ports import UnitOfWorkFactory

DEMO_USERS = {"alice": "U0ALICE001", "bob": "U0BOB00002", "carol": "U0CAROL003", "dave": "U0DAVE0004"}
DEMO_ROLES = {"alice": Role.ADMIN, "bob": Role.DEVELOPER, "carol": Role.DEVELOPER, "dave": Role.VIEWER}
DEMO_CHANNELS = {
    "payments-releases": "C0PAYMENTS1",
    "search-releases": "C0SEARCH001",
    "release-ops": "C0RELOPS001",
}


async def create_demo_workspace(uow_factory: UnitOfWorkFactory, clock: Callable[[], datetime]) -> str | None:
    """Create the demo team, services, environments and users unless the store has any team already."""
    system = Actor(user_id="releasebot", role=Role.ADMIN, source=Source.CONSOLE)
    async with uow_factory() as uow:
        if await uow.teams.list():
            return None
        now = clock()
        common = {"actor": system, "now": now, "request_id": "demo"}
        await configuration.add_team(
            uow,
            name="payments",
            channel=DEMO_CHANNELS["payments-releases"],
            timezone="Europe/Paris",
            **common,
        )
        await configuration.add_team(
            uow, name="search", channel=DEMO_CHANNELS["search-releases"], timezone="UTC", **common
        )
        await configuration.add_service(
            uow,
            name="payments-api",
            team="payments",
            channel=DEMO_CHANNELS["payments-releases"],
            repo="https://github.com/acme/payments-api",
            **common,
        )
        await configuration.add_service(
            uow,
            name="search-api",
            team="search",
            channel=DEMO_CHANNELS["search-releases"],
            repo=None,
            **common,
        )
        await configuration.add_environment(uow, name="staging", production=False, order=1, **common)
        await configuration.add_environment(uow, name="production", production=True, order=2, **common)
        for name, user_id in DEMO_USERS.items():
            await configuration.set_user_role(uow, user_id=user_id, role=DEMO_ROLES[name], **common)
        await uow.commit()
    users = ", ".join(f"{name} ({DEMO_ROLES[name].value})" for name in DEMO_USERS)
    return (
        "Created a demo workspace the first time: teams payments and search; services payments-api "
        "(#payments-releases) and search-api (#search-releases); environments staging and production; "
        f"users {users}."
    )

"""Where announcements about an environment or a service go."""

from __future__ import annotations

from core.model import Service
from core.ports import UnitOfWork


async def team_channels(uow: UnitOfWork) -> list[str]:
    """Each team's channel; a team without one is reached in the channels of its services."""
    services = [s for s in await uow.services.list() if s.active]
    channels: list[str] = []
    for team in await uow.teams.list():
        if team.slack_channel:
            channels.append(team.slack_channel)
        else:
            channels.extend(s.slack_channel for s in services if s.team == team.name)
    return list(dict.fromkeys(channels))


async def scope_channels(uow: UnitOfWork, service: Service | None) -> list[str]:
    """The service's channel, or every team's channel for something that concerns the whole environment."""
    if service is not None:
        return [service.slack_channel]
    return await team_channels(uow)

"""What a command handler receives, and the shape of the command registry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.model import Actor
from core.ports import UnitOfWork
from core.syntax import Command
from handlers.blocks import Rendered
from handlers.deps import Deps


@dataclass
class CommandContext:
    """One command being handled: the open unit of work, who acts, and the raw Slack body."""

    uow: UnitOfWork
    actor: Actor
    deps: Deps
    request_id: str
    now: datetime
    body: dict[str, Any] = field(default_factory=dict)
    follow_ups: list[FollowUp] = field(default_factory=list)

    def after_commit(self, follow_up: FollowUp) -> None:
        """Run ``follow_up`` once the work has committed (Slack calls must not hold the transaction open);
        the reply it returns replaces the work's own."""
        self.follow_ups.append(follow_up)


FollowUp = Callable[[], Awaitable[Rendered]]


CommandHandler = Callable[[CommandContext, Any], Awaitable[Rendered]]
Registry = dict[type[Command], CommandHandler]

"""What the Slack surfaces need, handed in by the composition root (no storage imports here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from core.model import Role, Source
from core.ports import Clock, UnitOfWorkFactory
from handlers.replies import ReplySession
from handlers.tasks import TaskTracker


@dataclass
class Deps:
    uow: UnitOfWorkFactory
    clock: Clock
    admins: frozenset[str] = frozenset()
    default_role: Role = Role.VIEWER
    source: Source = Source.SLACK
    tasks: TaskTracker = field(default_factory=TaskTracker)
    wake_delivery: Callable[[], None] = lambda: None
    wake_pipeline: Callable[[], None] = lambda: None
    stale_runner_s: float = 60.0
    replies: ReplySession = field(default_factory=ReplySession)
    # For work that answers beyond the reply itself (a file sent to someone's DMs).
    slack: AsyncWebClient | None = None
    # Hands an acknowledged ``/release`` command to the command worker process; False means "run it here".
    forward_command: Callable[[dict[str, Any]], bool] | None = None
    # The reporting time zone of organisation-wide figures (``RELEASEBOT_TIMEZONE``).
    timezone: str = "UTC"

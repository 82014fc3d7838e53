"""The executor port: how a pipeline stage is run (a local command, or a webhook to CI)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from core.model import StageSpec, StageStatus

MAX_STORED_OUTPUT = 1_000_000  # characters of a stage's output kept in the store


@dataclass(frozen=True)
class StageRun:
    """Everything an executor needs to run one stage of one deployment."""

    deployment_id: int
    reference: str  # D-42
    service: str
    version: str
    commit: str | None
    environment: str
    position: int
    spec: StageSpec
    callback_url: str | None = None  # where CI reports back (webhook executor)
    secret: str | None = None  # the environment's webhook secret
    attempt_id: str = ""  # unique per stage start; lets CI tell retries apart


@dataclass
class StageResult:
    """``status`` None means the stage was handed to CI and waits for its callback."""

    status: StageStatus | None
    exit_code: int | None = None
    output: str = ""
    reason: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class StageExecutor(Protocol):
    async def run(self, run: StageRun, cancelled: asyncio.Event) -> StageResult:
        """Run the stage until it ends, its timeout passes (FAILED, reason says so) or ``cancelled`` is set
        (CANCELLED). A webhook executor returns at once with ``status=None`` once CI accepted the request."""
        ...

    async def cancel(self, run: StageRun) -> None:
        """Tell whatever runs the stage elsewhere (CI) that the deployment was cancelled."""
        ...

"""From an outbox notification to Slack text and blocks. Most kinds render from the data stored with the
notification; a deployment's evolving message renders from the store at delivery time, so that every
update shows the latest state, however the notifications interleave."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from core.deployment_views import describe_deployment
from core.model import DeploymentStatus, Notification
from core.ports import UnitOfWorkFactory
from handlers import blocks, cards, digest_blocks, home_blocks, ids, notices

LiveRenderer = Callable[[UnitOfWorkFactory, dict[str, Any]], Awaitable[blocks.Rendered | None]]


async def _deployment(uow_factory: UnitOfWorkFactory, data: dict[str, Any]) -> blocks.Rendered | None:
    async with uow_factory() as uow:
        view = await describe_deployment(uow, int(data["deployment_id"]))
    return cards.deployment_message(view) if view is not None else None


async def _approval_request(uow_factory: UnitOfWorkFactory, data: dict[str, Any]) -> blocks.Rendered | None:
    async with uow_factory() as uow:
        view = await describe_deployment(uow, int(data["deployment_id"]))
        service = await uow.services.get(view.deployment.service) if view is not None else None
    if view is None or service is None or view.deployment.status is not DeploymentStatus.PENDING_APPROVAL:
        return None
    return home_blocks.approval_request(view, service.slack_channel)


LIVE: dict[str, LiveRenderer] = {ids.DEPLOYMENT_STATUS: _deployment, ids.APPROVAL_REQUEST: _approval_request}
STATIC: dict[str, Callable[[dict[str, Any]], blocks.Rendered]] = {
    ids.DEPLOYMENT_OUTCOME: cards.outcome_message,
    ids.STAGE_OUTPUT: cards.stage_output,
    ids.LOCK_NOTICE: notices.lock_notice,
    ids.LOCK_DIRECT: notices.lock_direct,
    ids.FREEZE_NOTICE: notices.freeze_notice,
    ids.INCIDENT_NOTICE: notices.incident_notice,
    ids.DIGEST: digest_blocks.digest_message,
}


async def render(uow_factory: UnitOfWorkFactory, notification: Notification) -> blocks.Rendered | None:
    """None when there is nothing left to show (the subject no longer exists)."""
    live = LIVE.get(notification.kind)
    if live is not None:
        return await live(uow_factory, notification.data)
    static = STATIC.get(notification.kind)
    if static is not None:
        return static(notification.data)
    return blocks.render(notification)

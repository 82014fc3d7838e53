"""Approvals and rejections: one row per person and deployment, enforced by a unique constraint."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import DuplicateRequest
from core.model import Approval, ApprovalDecision
from storage.rows import ApprovalRow


class ApprovalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, approval: Approval) -> Approval:
        row = ApprovalRow(
            deployment_id=approval.deployment_id,
            approver=approval.approver,
            decision=approval.decision.value,
            reason=approval.reason,
            bypass=approval.bypass,
            created_at=approval.created_at,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise DuplicateRequest(f"{approval.approver} on deployment {approval.deployment_id}") from None
        approval.id = row.id
        return approval

    async def for_deployment(self, deployment_id: int) -> Sequence[Approval]:
        rows = await self.session.execute(
            select(ApprovalRow).where(ApprovalRow.deployment_id == deployment_id).order_by(ApprovalRow.id)
        )
        return [
            Approval(
                deployment_id=row.deployment_id,
                approver=row.approver,
                decision=ApprovalDecision(row.decision),
                created_at=row.created_at,
                reason=row.reason,
                bypass=row.bypass,
                id=row.id,
            )
            for row in rows.scalars()
        ]

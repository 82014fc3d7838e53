"""The append-only audit log: entries are only ever inserted, each chained to the previous one's hash."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, cast, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import entry_hash
from core.model import AuditEntry, AuditFilter, DeploymentSignoff, Source
from storage.rows import ApprovalRow, AuditRow, DeploymentRow, ReleaseRow, ServiceRow

# Any constant works; it only has to be the same for every writer of the chain.
_CHAIN_LOCK = 72_270_001
# Ids per IN (...) list: far below the bound-parameter limits of SQLite and asyncpg.
_IN_CHUNK = 500

# Plain columns rather than ORM objects: reading the chain builds no identity map, about twice as fast.
_COLUMNS = (
    AuditRow.id,
    AuditRow.at,
    AuditRow.actor,
    AuditRow.action,
    AuditRow.target,
    AuditRow.details,
    AuditRow.source,
    AuditRow.request_id,
    AuditRow.hash,
    AuditRow.prev_hash,
)


_SOURCES = {source.value: source for source in Source}


def _entry(row: Sequence[Any]) -> AuditEntry:
    # Positional unpacking: attribute access by name costs a quarter of a full chain check.
    id_, at, actor, action, target, details, source, request_id, hash_, prev_hash = row
    return AuditEntry(
        actor=actor,
        action=action,
        target=target,
        details=details,
        # A source altered to an unknown value still verifies (and fails) on its raw text.
        source=_SOURCES.get(source, source),
        request_id=request_id,
        at=at,
        id=id_,
        hash=hash_,
        prev_hash=prev_hash,
    )


def _references(prefix: str, ids: Any) -> Any:
    """``'D-' || id`` in SQL: how a deployment or release is named in ``audit_log.target``."""
    return literal(prefix, String) + cast(ids, String)


def _about_service(service: str) -> ColumnElement[bool]:
    deployments = select(_references("D-", DeploymentRow.id)).join(
        ServiceRow, DeploymentRow.service_id == ServiceRow.id
    )
    releases = select(_references("R-", ReleaseRow.id)).join(ServiceRow, ReleaseRow.service_id == ServiceRow.id)
    return or_(
        AuditRow.target.in_([service, f"service:{service}"]),
        AuditRow.details["service"].as_string() == service,
        AuditRow.target.in_(deployments.where(ServiceRow.name == service)),
        AuditRow.target.in_(releases.where(ServiceRow.name == service)),
    )


def _conditions(where: AuditFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.service is not None:
        conditions.append(_about_service(where.service))
    if where.actor is not None:
        conditions.append(AuditRow.actor == where.actor)
    if where.action is not None:
        conditions.append(AuditRow.action.startswith(where.action, autoescape=True))
    if where.since is not None:
        conditions.append(AuditRow.at >= where.since)
    return conditions


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, entry: AuditEntry) -> AuditEntry:
        if self.session.get_bind().dialect.name == "postgresql":
            # Serialise writers of the chain for the rest of this transaction, so that two replicas
            # never chain two entries to the same predecessor.
            await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
        prev = (
            await self.session.execute(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1))
        ).scalar_one_or_none()
        entry.prev_hash = prev
        entry.hash = entry_hash(entry, prev)
        row = AuditRow(
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            details=entry.details,
            source=entry.source.value,
            request_id=entry.request_id,
            prev_hash=prev,
            hash=entry.hash,
        )
        self.session.add(row)
        await self.session.flush()
        entry.id = row.id
        return entry

    async def entries(self, batch: int = 5000) -> AsyncIterator[AuditEntry]:
        """Every entry, oldest first, read in batches so that memory stays flat however long the log."""
        last = 0
        while True:
            query = select(*_COLUMNS).where(AuditRow.id > last).order_by(AuditRow.id).limit(batch)
            rows = (await self.session.execute(query)).all()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            last = rows[-1].id

    async def search(self, where: AuditFilter, *, limit: int, before_id: int | None = None) -> Sequence[AuditEntry]:
        query = select(*_COLUMNS).where(*_conditions(where))
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        rows = (await self.session.execute(query.order_by(AuditRow.id.desc()).limit(limit))).all()
        return [_entry(row) for row in rows]

    async def signoffs(self, deployment_ids: Collection[int]) -> Mapping[int, DeploymentSignoff]:
        ids = sorted(set(deployment_ids))
        found: dict[int, DeploymentSignoff] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            found.update(await self._signoffs(ids[start : start + _IN_CHUNK]))
        return found

    async def _signoffs(self, ids: list[int]) -> dict[int, DeploymentSignoff]:
        approvals = await self.session.execute(
            select(ApprovalRow.deployment_id, ApprovalRow.approver, ApprovalRow.decision, ApprovalRow.bypass)
            .where(ApprovalRow.deployment_id.in_(ids))
            .order_by(ApprovalRow.id)
        )
        approvers: dict[int, list[str]] = defaultdict(list)
        bypasses: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for deployment_id, approver, decision, bypass in approvals:
            if decision == "approved":
                approvers[deployment_id].append(approver)
            if bypass:  # a decision that needed an exception (self-approval, second admin, ...)
                bypasses[deployment_id].append({"kind": bypass, "by": approver, "decision": decision})
        deployments = await self.session.execute(
            select(DeploymentRow.id, DeploymentRow.requested_by, DeploymentRow.bypasses).where(
                DeploymentRow.id.in_(ids)
            )
        )
        return {
            deployment_id: DeploymentSignoff(
                requester=requester,
                approvers=approvers[deployment_id],
                bypasses=[*(recorded or []), *bypasses[deployment_id]],
            )
            for deployment_id, requester, recorded in deployments
        }


@dataclass(frozen=True)
class ChainCheck:
    checked: int
    broken_id: int | None
    problem: str | None


async def verify_chain(session: AsyncSession) -> ChainCheck:
    """Recompute every hash in order; name the first entry whose content or link does not match."""
    prev: str | None = None
    count = 0
    async for entry in AuditRepository(session).entries():
        count += 1
        if entry.prev_hash != prev:
            return ChainCheck(count, entry.id, "its link to the previous entry does not match")
        if entry_hash(entry, prev) != entry.hash:
            return ChainCheck(count, entry.id, "its content does not match its hash")
        prev = entry.hash
    return ChainCheck(count, None, None)

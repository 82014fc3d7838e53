"""The append-only audit log: entries are only ever inserted, each chained to the previous one's hash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import entry_hash
from core.model import AuditEntry, Source
from storage.rows import AuditRow

# Any constant works; it only has to be the same for every writer of the chain.
_CHAIN_LOCK = 72_270_001


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=row.details,
        source=Source(row.source),
        request_id=row.request_id,
        at=row.at,
        id=row.id,
        hash=row.hash,
        prev_hash=row.prev_hash,
    )


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, entry: AuditEntry) -> AuditEntry:
        if self.session.bind.dialect.name == "postgresql":
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

    async def entries(self, batch: int = 1000) -> AsyncIterator[AuditEntry]:
        last = 0
        while True:
            query = select(AuditRow).where(AuditRow.id > last).order_by(AuditRow.id).limit(batch)
            rows = list((await self.session.execute(query)).scalars())
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            last = rows[-1].id


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

"""The audit trail: every command, click, state change, denial and bypass, hash-chained."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from core.model import Actor, AuditEntry
from core.ports import UnitOfWork


def entry_hash(entry: AuditEntry, prev_hash: str | None) -> str:
    """SHA-256 over the previous entry's hash and this entry's canonical content.

    Changing any recorded field, or removing or reordering entries, breaks the chain from there on.
    """
    canonical = json.dumps(
        {
            "prev": prev_hash or "",
            "at": entry.at.isoformat(),
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "details": entry.details,
            "source": getattr(entry.source, "value", entry.source),
            "request_id": entry.request_id,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record(
    uow: UnitOfWork,
    *,
    actor: Actor,
    action: str,
    target: str | None,
    now: datetime,
    request_id: str | None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction (the store chains its hash)."""
    entry = AuditEntry(
        actor=actor.user_id,
        action=action,
        target=target,
        details=details or {},
        source=actor.source,
        request_id=request_id,
        at=now,
    )
    return await uow.audit.append(entry)

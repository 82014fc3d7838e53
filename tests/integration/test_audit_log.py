"""The audit log in the real store, on SQLite and PostgreSQL: the chain, its search, and the CSV export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import audit, audit_log, deployments, releases
from core.errors import NotFound, PermissionDenied
from core.model import Actor, AuditFilter, Role
from storage.audit import verify_chain
from storage.rows import ApprovalRow, AuditRow, DeploymentRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import ADMIN, DEV, VIEWER, FrozenClock

Uow = Callable[[], SqlUnitOfWork]
ANALYST = Actor(user_id="U0ANNA0005", role=Role.ANALYST)
CAROL = "U0CAROL003"


async def _record(uow: Uow, clock: FrozenClock, *entries: tuple[Actor, str, str | None, dict[str, object]]) -> None:
    async with uow() as work:
        for actor, action, target, details in entries:
            await audit.record(
                work, actor=actor, action=action, target=target, now=clock(), request_id="r", details=details
            )
            clock.advance(minutes=1)
        await work.commit()


async def _check(uow: Uow) -> tuple[int, int | None, str | None]:
    async with uow() as work:
        found = await verify_chain(work.session)
    return found.checked, found.broken_id, found.problem


async def _ids(uow: Uow, where: AuditFilter, limit: int = 50) -> list[int]:
    async with uow() as work:
        return [e.id or 0 for e in await work.audit.search(where, limit=limit)]


async def _rows(uow: Uow) -> list[dict[str, Any]]:
    """Every stored entry as plain values, oldest first."""
    columns = [c for c in AuditRow.__table__.columns]
    async with uow() as work:
        found = await work.session.execute(select(*columns).order_by(AuditRow.id))
        return [dict(row._mapping) for row in found]


async def _deploy(uow: Uow, clock: FrozenClock, version: str = "v1") -> int:
    """A release and a deployment of payments-api to staging (no approvals needed there)."""
    async with uow() as work:
        await releases.create_release(
            work,
            actor=DEV,
            service="payments-api",
            version=version,
            commit=None,
            notes=None,
            now=clock(),
            request_id="c",
        )
        outcome = await deployments.request_deployment(
            work, actor=DEV, service="payments-api", version=version, environment="staging", now=clock(), request_id="d"
        )
        await work.commit()
    assert outcome.deployment.id is not None
    return outcome.deployment.id


async def test_a_chain_written_through_the_store_verifies(workspace: Uow, clock: FrozenClock) -> None:
    await _record(workspace, clock, (DEV, "release.create", "R-1", {"notes": "ünïcode & <tags>"}))
    await _deploy(workspace, clock)
    async with workspace() as work:
        total = int((await work.session.execute(select(func.count(AuditRow.id)))).scalar_one())
    assert total > 5
    assert await _check(workspace) == (total, None, None)


async def test_an_empty_log_verifies(uow: Uow) -> None:
    assert await _check(uow) == (0, None, None)


async def test_an_entry_altered_in_place_is_named_by_verify(
    workspace: Uow, clock: FrozenClock, migrated_engine: AsyncEngine
) -> None:
    """On PostgreSQL the database refuses the UPDATE (test_migrations.py); a database owner who switches the
    guard off first is still caught by the hash chain."""
    await _record(workspace, clock, *[(DEV, "release.create", f"R-{n}", {"version": f"v{n}"}) for n in range(1, 6)])
    async with workspace() as work:
        victim = (await work.session.execute(select(AuditRow.id).order_by(AuditRow.id).offset(6).limit(1))).scalar()
        if migrated_engine.dialect.name == "postgresql":
            await work.session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await work.session.execute(
            text("UPDATE audit_log SET details = :details WHERE id = :id"),
            {"details": json.dumps({"version": "v9"}), "id": victim},
        )
        await work.commit()
    checked, broken, problem = await _check(workspace)
    assert (checked, broken, problem) == (7, victim, "its content does not match its hash")


async def test_a_row_inserted_directly_with_a_wrong_hash_is_named(workspace: Uow, clock: FrozenClock) -> None:
    await _record(workspace, clock, (DEV, "release.create", "R-1", {}))
    async with workspace() as work:
        last = (await work.session.execute(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1))).scalar_one()
        forged = (
            await work.session.execute(
                insert(AuditRow)
                .values(
                    at=clock(),
                    actor=DEV.user_id,
                    action="deployment.approve",
                    target="D-1",
                    details={},
                    source="slack",
                    request_id="forged",
                    prev_hash=last,
                    hash="0" * 64,
                )
                .returning(AuditRow.id)
            )
        ).scalar_one()
        await work.commit()
    await _record(workspace, clock, (DEV, "release.create", "R-2", {}))  # the store chains on to the forgery
    _, broken, problem = await _check(workspace)
    assert (broken, problem) == (forged, "its content does not match its hash")


async def test_search_filters_by_service_user_action_and_since_newest_first(workspace: Uow, clock: FrozenClock) -> None:
    deployment = await _deploy(workspace, clock)
    clock.advance(days=2)
    await _record(
        workspace,
        clock,
        (ADMIN, "service.upsert", "service:billing", {"team": "payments"}),
        (ADMIN, "permission.denied", None, {"service": "payments-api", "reason": "x"}),
        (VIEWER, "deployment_x", "D-999", {}),
    )
    rows = await _rows(workspace)
    by_action = {(r["action"], r["target"]): r["id"] for r in rows}
    about_payments = [
        by_action[("permission.denied", None)],
        by_action[("deployment.success", f"D-{deployment}")],
        by_action[("deployment.request", f"D-{deployment}")],
        by_action[("release.create", "R-1")],
        by_action[("service.upsert", "service:payments-api")],
    ]
    assert await _ids(workspace, AuditFilter(service="payments-api")) == about_payments
    assert await _ids(workspace, AuditFilter(service="payments-api", actor=DEV.user_id)) == about_payments[1:4]
    deployment_actions = [by_action[("deployment.success", "D-1")], by_action[("deployment.request", "D-1")]]
    assert await _ids(workspace, AuditFilter(action="deployment.")) == deployment_actions
    newest = by_action[("deployment_x", "D-999")]
    assert await _ids(workspace, AuditFilter(action="deployment")) == [newest, *deployment_actions]
    since = clock() - timedelta(minutes=2)
    assert await _ids(workspace, AuditFilter(since=since)) == [newest, by_action[("permission.denied", None)]]
    ids = [r["id"] for r in rows]
    assert await _ids(workspace, AuditFilter(), limit=2) == [ids[-1], ids[-2]]
    async with workspace() as work:
        page = await work.audit.search(AuditFilter(), limit=2, before_id=ids[-2])
    assert [e.id for e in page] == [ids[-3], ids[-4]]


async def test_an_action_filter_treats_like_wildcards_literally(workspace: Uow, clock: FrozenClock) -> None:
    await _record(workspace, clock, (DEV, "deploymentXrequest", None, {}), (DEV, "deployment_request", None, {}))
    found = await _ids(workspace, AuditFilter(action="deployment_"))
    assert len(found) == 1


async def test_signoffs_name_requester_approvers_and_bypasses(workspace: Uow, clock: FrozenClock) -> None:
    deployment = await _deploy(workspace, clock)
    async with workspace() as work:
        await work.session.execute(
            update(DeploymentRow)
            .where(DeploymentRow.id == deployment)
            .values(bypasses=[{"kind": "freeze", "reason": "hotfix"}])
        )
        for approver, decision, bypass in ((ADMIN.user_id, "approved", "self_approval"), (CAROL, "rejected", None)):
            work.session.add(
                ApprovalRow(
                    deployment_id=deployment, approver=approver, decision=decision, bypass=bypass, created_at=clock()
                )
            )
        await work.commit()
    async with workspace() as work:
        found = await work.audit.signoffs([deployment, deployment, 4242])
    assert list(found) == [deployment]
    signoff = found[deployment]
    assert signoff.requester == DEV.user_id
    assert signoff.approvers == [ADMIN.user_id]
    assert signoff.bypasses == [
        {"kind": "freeze", "reason": "hotfix"},
        {"kind": "self_approval", "by": ADMIN.user_id, "decision": "approved"},
    ]


async def test_an_export_is_csv_of_the_matching_entries_oldest_first_and_is_itself_audited(
    workspace: Uow, clock: FrozenClock
) -> None:
    deployment = await _deploy(workspace, clock)
    async with workspace() as work:
        export = await audit_log.export_entries(
            work, actor=ANALYST, where=AuditFilter(service="payments-api"), limit=None, now=clock(), request_id="x1"
        )
        await work.commit()
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    stored = {r["id"]: r for r in await _rows(workspace)}
    logged = stored[max(stored)]
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
    assert export.count == len(rows) == 4 and not export.truncated
    for row in rows:
        entry = stored[int(row["id"])]
        expected = {**entry, "id": str(entry["id"]), "target": entry["target"] or "", "at": entry["at"].isoformat()}
        assert {**row, "details": json.loads(row["details"]), "at": row["at"].replace("Z", "+00:00")} == {
            **expected,
            "prev_hash": entry["prev_hash"] or "",
            "request_id": entry["request_id"] or "",
            "requester": row["requester"],
            "approvers": row["approvers"],
            "bypasses": row["bypasses"],
        }
    deployment_rows = [r for r in rows if r["target"] == f"D-{deployment}"]
    assert {(r["requester"], r["approvers"], r["bypasses"]) for r in deployment_rows} == {(DEV.user_id, "", "[]")}
    assert (logged["action"], logged["actor"]) == ("audit.export", ANALYST.user_id)
    assert logged["details"]["entries"] == 4
    assert logged["details"]["sha256"] == hashlib.sha256(export.content).hexdigest()
    assert logged["details"]["filters"] == {"service": "payments-api"}
    assert (await _check(workspace))[1] is None


async def test_only_analysts_and_admins_read_or_export_the_log(workspace: Uow, clock: FrozenClock) -> None:
    async with workspace() as work:
        with pytest.raises(PermissionDenied, match="You can't read the audit log: your role is developer"):
            await audit_log.recent_entries(work, actor=DEV, where=AuditFilter())
        with pytest.raises(PermissionDenied, match="You can't export the audit log: your role is viewer"):
            await audit_log.export_entries(
                work, actor=VIEWER, where=AuditFilter(), limit=None, now=clock(), request_id=None
            )
        with pytest.raises(NotFound, match="nothing to export"):
            await audit_log.export_entries(
                work, actor=ANALYST, where=AuditFilter(actor="U0NOBODY01"), limit=None, now=clock(), request_id=None
            )

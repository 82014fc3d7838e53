"""Read-only reports over the store for scripts and operators (``releasebot deployments|status``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.settings import Settings
from core.model import Deployment
from storage.deployments import DeploymentRepository
from storage.engine import create_engine, session_factory
from storage.repositories import EnvironmentRepository, ServiceRepository
from storage.rows import ApprovalRow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def _approvers(session: Any, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(ApprovalRow.deployment_id, ApprovalRow.approver)
            .where(ApprovalRow.deployment_id.in_(ids), ApprovalRow.decision == "approved")
            .order_by(ApprovalRow.id)
        )
        for deployment_id, approver in rows:
            found[deployment_id].append(approver)
    return found


def deployment_record(deployment: Deployment, approvers: list[str]) -> dict[str, Any]:
    return {
        "reference": deployment.reference,
        "service": deployment.service,
        "version": deployment.version,
        "environment": deployment.environment,
        "status": deployment.status.value,
        "requester": deployment.requested_by,
        "approvers": approvers,
        "requested_at": _iso(deployment.requested_at),
        "started_at": _iso(deployment.started_at),
        "finished_at": _iso(deployment.finished_at),
    }


async def deployments_report(
    settings: Settings, *, service: str | None, environment: str | None, limit: int
) -> list[dict[str, Any]]:
    engine = create_engine(settings.database_url_resolved, pool_size=2)
    try:
        async with session_factory(engine)() as session:
            found = await DeploymentRepository(session).search(service=service, environment=environment, limit=limit)
            approvers = await _approvers(session, [d.id for d in found if d.id is not None])
            return [deployment_record(d, approvers.get(d.id or 0, [])) for d in found]
    finally:
        await engine.dispose()


async def status_report(settings: Settings) -> list[dict[str, Any]]:
    engine = create_engine(settings.database_url_resolved, pool_size=2)
    try:
        async with session_factory(engine)() as session:
            services = await ServiceRepository(session).list()
            environments = await EnvironmentRepository(session).list()
            deployments = DeploymentRepository(session)
            current = {(d.service, d.environment): d for d in await deployments.current_versions()}
            active = {(d.service, d.environment): d for d in await deployments.active_list()}
            report = []
            for svc in services:
                envs = {}
                for env in environments:
                    now_running = current.get((svc.name, env.name))
                    in_progress = active.get((svc.name, env.name))
                    envs[env.name] = {
                        "version": now_running.version if now_running else None,
                        "deployment": now_running.reference if now_running else None,
                        "deployed_at": _iso(now_running.finished_at) if now_running else None,
                        "active": in_progress.reference if in_progress else None,
                    }
                report.append({"service": svc.name, "team": svc.team, "environments": envs})
            return report
    finally:
        await engine.dispose()


def print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("(nothing)")
        return
    if "environments" in rows[0]:
        for row in rows:
            cells = [f"{env}={info['version'] or '-'}" for env, info in row["environments"].items()]
            print(f"{row['service']:<30} {'  '.join(cells)}")
        return
    columns = ["reference", "service", "version", "environment", "status", "requester", "finished_at"]
    widths = {c: max(len(c), *(len(str(r.get(c) or "")) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c) or "").ljust(widths[c]) for c in columns))

"""Builders shared by the DORA tests: a history of deployment facts written in a few words per line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.dora import Fact, Scope, ScopeKind, Window, make_window, reference_metrics

ORG = Scope(ScopeKind.ORG)


def at(text: str) -> datetime:
    """An instant written with its offset, like ``2026-11-02T10:00Z`` or ``2026-11-02T10:00+01:00``."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, "test instants carry an offset"
    return value.astimezone(UTC)


def team(name: str) -> Scope:
    return Scope(ScopeKind.TEAM, name)


def service(name: str) -> Scope:
    return Scope(ScopeKind.SERVICE, name)


# The week of Monday 2026-11-02 00:00 UTC to Monday 2026-11-09 00:00 UTC.
WEEK = make_window(at("2026-11-02T00:00Z"), at("2026-11-09T00:00Z"))


class History:
    """Deployment facts with ids in the order they are added; one commit per deployment unless told."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []

    def add(
        self,
        status: str,
        finished: str | None,
        *,
        service: str = "api",
        team: str | None = "core",
        env: str = "production",
        production: bool | None = None,
        deployed: str | None = "",
        sha: str | None = "",
        committed: str | None = None,
        incident: str | None = None,
        resolved: str | None = None,
    ) -> Fact:
        ident = len(self.facts) + 1
        finished_at = at(finished) if finished else None
        if deployed == "":  # by default a deployment takes ten minutes
            deployed_at = finished_at - timedelta(minutes=10) if finished_at else None
        else:
            deployed_at = at(deployed) if deployed else None
        fact = Fact(
            id=ident,
            service=service,
            team=team,
            environment=env,
            is_production=env == "production" if production is None else production,
            commit_sha=f"sha{ident}" if sha == "" else sha,
            committed_at=at(committed) if committed else None,
            deployed_at=deployed_at,
            finished_at=finished_at,
            status=status,
            incident_opened_at=at(incident) if incident else None,
            incident_resolved_at=at(resolved) if resolved else None,
        )
        self.facts.append(fact)
        return fact

    def metrics(self, scope: Scope = ORG, window: Window = WEEK) -> dict[str, Any]:
        return reference_metrics(self.facts, scope, window)

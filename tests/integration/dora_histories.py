"""Random deployment histories for checking the SQL metrics against the reference (hypothesis strategies)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from core.dora import Scope, ScopeKind, Window, make_window

BASE = datetime(2026, 3, 1, tzinfo=UTC)  # DST starts 2026-03-08 (New York) and 2026-03-29 (Berlin)
SPAN_MINUTES = 60 * 24 * 45
TEAMS = ("alpha", "beta", "gamma")
SERVICES = {"api": "alpha", "web": "beta", "db": "gamma"}
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "+05:45", "-03:30", "Asia/Kolkata")
OTHER_STATUSES = ("rejected", "cancelled", "expired", "queued")


@dataclass
class History:
    records: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)  # bot-native rows with other statuses

    def jsonl(self) -> list[str]:
        return [json.dumps(r) for r in self.records]


def _iso(instant: datetime | None, offset_minutes: int = 0) -> str | None:
    if instant is None:
        return None
    from datetime import timezone

    return instant.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()


# Coarse instants collide often (equal timestamps are the interesting ties); a few carry odd seconds.
instants = st.builds(
    lambda minutes, seconds, micros: BASE + timedelta(minutes=minutes * 30, seconds=seconds, microseconds=micros),
    st.integers(0, SPAN_MINUTES // 30),
    st.sampled_from([0, 0, 0, 17]),
    st.sampled_from([0, 0, 0, 250_000]),
)
durations = st.sampled_from([0, 0, 60, 600, 1800, 3600, 7200, 30 * 3600]).map(lambda s: timedelta(seconds=s))
shifts = st.sampled_from([-7200, -600, 0, 0, 1800, 3600, 86400]).map(lambda s: timedelta(seconds=s))


@st.composite
def records(draw: st.DrawFn, index: int) -> dict[str, Any]:
    service = draw(st.sampled_from(sorted(SERVICES)))
    team = SERVICES[service]
    deployed_at = draw(instants)
    if service == "api" and deployed_at >= BASE + timedelta(days=20):
        team = "beta"  # api moves to beta: its history stays with alpha
    version = draw(st.integers(1, 6))
    status = draw(st.sampled_from(["success"] * 6 + ["failed"] * 2 + ["rolled_back", "in_progress"]))
    finished_at = None if status == "in_progress" else deployed_at + draw(durations)
    opened = resolved = None
    if finished_at is not None and draw(st.integers(0, 3)) == 0:
        opened = finished_at + draw(shifts)
        resolved = draw(st.sampled_from([None, opened + draw(shifts), opened + draw(durations)]))
    committed = None if version == 3 else BASE + timedelta(days=version * 6 - 9, hours=draw(st.integers(0, 3)))
    record = {
        "event_id": f"ev-{index}",
        "service": service,
        "team": team,
        "environment": draw(st.sampled_from(["production"] * 5 + ["staging", "staging", "prod"])),
        "version": f"v{version}",
        "commit_sha": None if version == 5 else f"{version:07x}",
        "committed_at": _iso(committed, draw(st.sampled_from([0, 60, -300]))),
        "deployed_at": _iso(deployed_at, draw(st.sampled_from([0, 120, 345]))),
        "finished_at": _iso(finished_at),
        "status": status,
        "kind": draw(st.sampled_from(["deploy", "retry", "fix", "rollback", "redeploy"])),
    }
    if opened is not None:
        record["incident_opened_at"] = _iso(opened)
        record["incident_resolved_at"] = _iso(resolved)
    return record


@st.composite
def histories(draw: st.DrawFn) -> History:
    count = draw(st.integers(0, 30))
    history = History([draw(records(n)) for n in range(count)])
    busy: set[tuple[str, str]] = set()
    for record in history.records:  # one deployment in progress per service and environment
        if record["status"] == "in_progress":
            key = (record["service"], record["environment"])
            if key in busy:
                record["status"], record["finished_at"] = "success", record["deployed_at"]
            busy.add(key)
    for _ in range(draw(st.integers(0, 3))):
        status = draw(st.sampled_from(OTHER_STATUSES))
        service, environment = draw(st.sampled_from(sorted(SERVICES))), draw(st.sampled_from(["production", "prod"]))
        if status == "queued" and (service, environment) in busy:
            status = "cancelled"
        busy.add((service, environment))
        started = draw(st.one_of(st.none(), instants))
        history.others.append(
            {
                "service": service,
                "environment": environment,
                "status": status,
                "started_at": started if status == "queued" else None,
                "finished_at": None if status == "queued" else draw(instants),
            }
        )
    return history


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = BASE + timedelta(minutes=30 * draw(st.integers(-100, SPAN_MINUTES // 30)))
    start += timedelta(seconds=draw(st.sampled_from([0, 0, 17])))
    length = timedelta(hours=draw(st.sampled_from([1, 24, 167, 168, 169, 24 * 14, 24 * 30])))
    data_start = draw(st.one_of(st.none(), instants))
    return make_window(start, start + length, draw(st.sampled_from(ZONES)), data_start)


SCOPES = (
    [Scope(ScopeKind.ORG)]
    + [Scope(ScopeKind.TEAM, t) for t in TEAMS]
    + [Scope(ScopeKind.SERVICE, s) for s in sorted(SERVICES)]
)

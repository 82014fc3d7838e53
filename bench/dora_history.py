"""A realistic deployment history as JSON Lines (the ``releasebot import`` format), for ``bench.dora``.

500 services in 50 teams ship releases through dev, staging and production over two years: deployment
gaps are random (each service at its own pace), most attempts succeed, failures are retried, a bad
production deployment is rolled back to the previous version, some successes get an incident, a few
services move to another team, and a few deployments are still in progress at the end.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

END = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday: "last full week" is the week before it
SPAN = timedelta(days=730)
START = END - SPAN
SERVICES = 500
TEAMS = 50
ENVIRONMENTS = ("dev", "staging", "production")
# (success, failed, rolled_back) per environment; a production success gets an incident 3% of the time.
OUTCOMES = {"dev": (0.90, 0.10, 0.0), "staging": (0.92, 0.08, 0.0), "production": (0.88, 0.08, 0.04)}
INCIDENT_RATE = 0.03


def iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Release:
    version: str
    sha: str
    committed_at: datetime | None


class ServiceHistory:
    """One service's deployments, one pipeline step at a time."""

    def __init__(self, rng: random.Random, index: int) -> None:
        self.rng = rng
        self.name = f"svc-{index:03d}"
        self.team = f"team-{index % TEAMS:02d}"
        self.moves_at = START + SPAN * rng.random() if rng.random() < 0.05 else None
        self.new_team = f"team-{(index + 7) % TEAMS:02d}"
        self.number = 0
        self.release = self._next_release(START)
        self.good: Release | None = None  # the version running in production
        self.stage = 0
        self.rollback_due = False
        self.kind = "deploy"  # of the next attempt

    def _next_release(self, at: datetime) -> Release:
        self.number += 1
        lead = timedelta(hours=self.rng.lognormvariate(2.9, 1.2))  # median about 18 hours
        committed = None if self.rng.random() < 0.02 else at - lead
        return Release(f"1.{self.number}.0", f"{self.rng.getrandbits(160):040x}", committed)

    def _outcome(self, environment: str) -> str:
        success, failed, _ = OUTCOMES[environment]
        roll = self.rng.random()
        return "success" if roll < success else "failed" if roll < success + failed else "rolled_back"

    def record(self, number: int, at: datetime, last: bool) -> dict[str, object]:
        rng = self.rng
        finished = at + timedelta(seconds=rng.lognormvariate(6.2, 0.6))  # median about 8 minutes
        kind = self.kind
        if self.rollback_due and self.good is not None:
            release, environment, status, kind = self.good, "production", "success", "rollback"
            self.rollback_due, self.kind = False, "fix"
        else:
            release, environment = self.release, ENVIRONMENTS[self.stage]
            status = self._outcome(environment)
            self.kind = "retry" if status == "failed" else "deploy"
            if status == "success":
                self.stage += 1
                if environment == "production":
                    self.good = release
                    self.release, self.stage = self._next_release(at), 0
            elif status == "rolled_back":
                self.rollback_due, self.stage = True, 0
                self.release = self._next_release(at)
        team = self.new_team if self.moves_at is not None and at >= self.moves_at else self.team
        data: dict[str, object] = {
            "event_id": f"{self.name}-{number}",
            "service": self.name,
            "team": team,
            "environment": environment,
            "version": release.version,
            "commit_sha": release.sha,
            "committed_at": iso(release.committed_at),
            "deployed_at": iso(at),
            "finished_at": None if last else iso(finished),
            "status": "in_progress" if last else status,
            "kind": kind,
        }
        if not last and status == "success" and environment == "production" and rng.random() < INCIDENT_RATE:
            opened = finished + timedelta(minutes=rng.uniform(5, 360))
            resolved = opened + timedelta(minutes=rng.lognormvariate(4.8, 1.0))  # median about 2 hours
            data["incident_opened_at"] = iso(opened)
            data["incident_resolved_at"] = iso(resolved if resolved < END else None)
        return data


def write_history(path: Path, deployments: int, seed: int = 7) -> int:
    """Write ``deployments`` lines to ``path``; returns how many are production deployments."""
    rng = random.Random(seed)
    production = 0
    with path.open("w", encoding="utf-8") as out:
        for index in range(SERVICES):
            quota = deployments // SERVICES + (1 if index < deployments % SERVICES else 0)
            if not quota:
                continue
            service = ServiceHistory(rng, index)
            gaps = [rng.expovariate(1.0) * rng.uniform(0.5, 1.5) for _ in range(quota)]
            scale = SPAN.total_seconds() * rng.uniform(0.995, 0.9999) / sum(gaps)
            at = START
            in_progress_at_end = rng.random() < 0.02
            for number in range(quota):
                at += timedelta(seconds=gaps[number] * scale)
                data = service.record(number, at, last=in_progress_at_end and number == quota - 1)
                production += data["environment"] == "production"
                out.write(json.dumps(data, separators=(",", ":")))
                out.write("\n")
    return production

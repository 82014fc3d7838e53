"""The weekly digest against the store: its exact content for a seeded history, restatement, a daylight-saving
week, and the preview. The history is written straight as rows (deployment ids 1, 2, ... in order); the
exactly-once and catch-up tests in ``test_digest_runs`` reuse it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.digest import DigestPeriod, last_full_week
from core.digests import preview_digest, window_of
from core.dora import Scope, ScopeKind
from core.dora_queries import metrics
from core.errors import NotFound, PermissionDenied
from core.model import Actor, Role
from handlers.deps import Deps
from handlers.digest import send_due_digests
from handlers.digest_blocks import digest_message
from storage.rows import (
    DeploymentRow,
    DigestRunRow,
    EnvironmentRow,
    IncidentRow,
    OutboxRow,
    ReleaseRow,
    ServiceRow,
    TeamRow,
    UserRow,
)
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import FrozenClock
from tests.support import blockkit

Uow = Callable[[], SqlUnitOfWork]
CREATED = datetime(2026, 10, 1, tzinfo=UTC)
PAYMENTS_CHANNEL = "C0PAYMENTS1"
PAYMENTS_API_CHANNEL = "C0PAYAPI001"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class History:
    """Teams, services, environments, releases and deployments by name; ``deploy`` returns the id."""

    def __init__(self, work: SqlUnitOfWork) -> None:
        self.session = work.session
        self.ids: dict[tuple[str, str], int] = {}

    async def _add(self, row: Any) -> int:
        self.session.add(row)
        await self.session.flush()
        return int(row.id)

    async def team(self, name: str, channel: str | None, timezone: str = "UTC") -> None:
        row = TeamRow(
            name=name,
            slack_channel=channel,
            timezone=timezone,
            digest_day="mon",
            digest_time="09:00",
            created_at=CREATED,
        )
        self.ids[("team", name)] = await self._add(row)

    async def service(self, name: str, team: str, channel: str, *, digest: bool = False) -> None:
        row = ServiceRow(
            name=name,
            team_id=self.ids[("team", team)],
            slack_channel=channel,
            active=True,
            notify_level="everything",
            digest=digest,
            created_at=CREATED,
        )
        self.ids[("service", name)] = await self._add(row)

    async def environment(self, name: str, *, production: bool) -> None:
        row = EnvironmentRow(
            name=name,
            position=2 if production else 1,
            is_production=production,
            policy={},
            stages=[],
            created_at=CREATED,
        )
        self.ids[("env", name)] = await self._add(row)

    async def deploy(
        self,
        service: str,
        version: str,
        status: str,
        finished: str | None,
        *,
        team: str,
        sha: str | None = None,
        committed: str | None = None,
        env: str = "production",
        started: str | None = None,
        kind: str = "deploy",
    ) -> int:
        release = self.ids.get(("release", f"{service}@{version}"))
        if release is None:
            release = await self._add(
                ReleaseRow(
                    service_id=self.ids[("service", service)],
                    version=version,
                    commit_sha=sha,
                    committed_at=at(committed) if committed else None,
                    status="active",
                    created_by="U0DEV00001",
                    created_at=CREATED,
                )
            )
            self.ids[("release", f"{service}@{version}")] = release
        finished_at = at(finished) if finished else None
        started_at = at(started) if started else (finished_at - timedelta(minutes=10) if finished_at else None)
        assert started_at is not None
        return await self._add(
            DeploymentRow(
                release_id=release,
                service_id=self.ids[("service", service)],
                environment_id=self.ids[("env", env)],
                team_id=self.ids[("team", team)],
                status=status,
                kind=kind,
                requested_by="U0DEV00001",
                requested_at=started_at,
                started_at=started_at,
                finished_at=finished_at,
                cancel_requested=False,
                bypasses=[],
            )
        )

    async def incident(self, deployment_id: int, opened: str) -> None:
        await self._add(IncidentRow(deployment_id=deployment_id, opened_at=at(opened), opened_by="U0DEV00001"))


async def seed(uow: Uow) -> None:
    """Team payments (UTC; its channel, and payments-api's own with ``digest: true``), team search (no channel).

    The week of Mon 2 Nov 2026: payments-api deploys v1.1, fails v1.2 and fixes it; ledger is rolled back
    from v7 to v6, then v8 gets an incident nobody has restored; search-api fails (another team); a staging
    deployment and one still running at the week's end. The week before: payments-api v1.0.
    """
    async with uow() as work:
        h = History(work)
        await h.team("payments", PAYMENTS_CHANNEL)
        await h.team("search", None)  # no channel: no digest is posted for it
        await h.service("payments-api", "payments", PAYMENTS_API_CHANNEL, digest=True)
        await h.service("ledger", "payments", "C0LEDGER001")
        await h.service("search-api", "search", "C0SEARCH001")
        await h.environment("staging", production=False)
        await h.environment("production", production=True)
        p = {"team": "payments"}
        await h.deploy("ledger", "v6", "success", "2026-10-21T10:00", sha="e5", committed="2026-10-20T00:00", **p)
        await h.deploy(
            "payments-api", "v1.0", "success", "2026-10-30T12:00", sha="a1", committed="2026-10-30T10:00", **p
        )
        await h.deploy(
            "payments-api", "v1.1", "success", "2026-11-03T10:00", sha="b2", committed="2026-11-02T08:00", **p
        )
        await h.deploy(
            "payments-api", "v1.2", "failed", "2026-11-04T10:10", sha="c3", committed="2026-11-04T06:00", **p
        )
        await h.deploy("payments-api", "v1.2", "success", "2026-11-04T11:40", **p)
        await h.deploy("ledger", "v7", "rolled_back", "2026-11-05T10:30", sha="d4", committed="2026-11-01T10:30", **p)
        await h.deploy("ledger", "v6", "success", "2026-11-05T11:00", kind="rollback", **p)
        incident = await h.deploy(
            "ledger", "v8", "success", "2026-11-06T12:00", sha="f6", committed="2026-11-06T09:00", **p
        )
        await h.incident(incident, "2026-11-06T15:00")
        await h.deploy(
            "payments-api",
            "v1.3",
            "success",
            "2026-11-07T12:00",
            sha="g7",
            committed="2026-11-07T10:00",
            env="staging",
            **p,
        )
        await h.deploy("search-api", "v2", "failed", "2026-11-04T09:00", sha="h8", team="search")
        await h.deploy("payments-api", "v1.3", "running", None, started="2026-11-08T23:50", **p)
        await work.commit()


GRACE = timedelta(hours=24)
MONDAY_NINE = at("2026-11-09T09:00")  # payments' digest time after the seeded week


def deps_for(uow: Uow, clock: FrozenClock) -> Deps:
    return Deps(uow=uow, clock=clock)


async def digests_sent(uow: Uow) -> list[tuple[str, dict[str, Any]]]:
    """The outbox messages of kind ``digest.weekly``: (channel, data), oldest first."""
    async with uow() as work:
        rows = (await work.session.execute(select(OutboxRow).where(OutboxRow.kind == "digest.weekly"))).scalars()
        return [(row.channel, row.data) for row in sorted(rows, key=lambda r: r.id)]


def sections(data: dict[str, Any]) -> list[str]:
    text, blocks = digest_message(data)
    assert blockkit.validate("message", {"blocks": blocks, "text": text}) == []
    shown = []
    for block in blocks[1:]:
        if block["type"] == "section":
            shown.append(block["text"]["text"])
        else:
            shown += [element["text"] for element in block["elements"]]
    return shown


TEAM_DIGEST = [
    "Mon 2 Nov to Sun 8 Nov 2026 (UTC) against the week before · bands: dora-2023",
    "*Deployment frequency*: 4 successful deployments (0.6 a day) on 4 days · no band yet: under 4 weeks of history\n"
    "Week before: 1 successful deployment (0.1 a day) on 1 day (no band yet)",
    "*Lead time for changes*: median 5.7 h, p90 21.9 h over 3 releases · band *elite* (dora-2023)\n"
    "Week before: median 2.0 h, p90 2.0 h over 1 release, *elite*",
    "*Change failure rate*: 50.0% (3 of 6 deployments: 1 failed, 1 rolled back, 1 incident) · band *low* (dora-2023)\n"
    "Week before: 0.0% (0 of 1 deployment), *elite*",
    "*Time to restore*: median 1.0 h, p90 1.4 h over 2 restored failures · band *high* (dora-2023)\n"
    "Week before: no failure restored",
    "*By service*\n```"
    "service       deploys  lead time  failure rate  restore\n"
    "ledger              2      3.0 h   66.7% (2/3)    0.5 h\n"
    "payments-api        2     15.8 h   33.3% (1/3)    1.5 h```",
    "*Failures and rollbacks*\n"
    "• D-4 *payments-api* `v1.2` failed, Wed 4 Nov 10:10\n"
    "• D-6 *ledger* `v7` rolled back, Thu 5 Nov 10:30\n"
    "• D-8 *ledger* `v8` incident, Fri 6 Nov 12:00",
    "*Open failures*\n1 failure episode not restored by the end of the week; the oldest began 57.0 h before it ended.\n"
    "• *ledger* since D-8 `v8`, Fri 6 Nov 15:00 (1 failed deployment)",
    "*Slowest lead times*\n"
    "• *payments-api* `v1.1` (D-3): 26.0 h\n"
    "• *payments-api* `v1.2` (D-5): 5.7 h\n"
    "• *ledger* `v8` (D-8): 3.0 h",
    "Lead time runs from the oldest commit of each release to its first successful production deployment, "
    "so it reads higher than a per-commit median.",
]


async def test_the_digest_of_a_seeded_history_reads_exactly_so(uow: Uow, clock: FrozenClock) -> None:
    await seed(uow)

    sent = await send_due_digests(deps_for(uow, clock), grace=GRACE, now=MONDAY_NINE)

    assert sent == 2
    (team_channel, team), (service_channel, service) = await digests_sent(uow)
    assert team_channel == PAYMENTS_CHANNEL
    assert team["title"] == "Weekly DORA digest: payments"
    shown = sections(team)
    assert shown[:-1] == TEAM_DIGEST
    assert shown[-1] == (
        "In flight at the end of the week: 1 deployment (a deployment counts in the week it finishes)."
    )
    assert service_channel == PAYMENTS_API_CHANNEL
    assert service["title"] == "Weekly DORA digest: payments-api"
    assert sections(service)[1:4] == [
        "*Deployment frequency*: 2 successful deployments (0.3 a day) on 2 days · no band yet: under 4 weeks of "
        "history\nWeek before: 1 successful deployment (0.1 a day) on 1 day (no band yet)",
        "*Lead time for changes*: median 15.8 h, p90 24.0 h over 2 releases · band *elite* (dora-2023)\n"
        "Week before: median 2.0 h, p90 2.0 h over 1 release, *elite*",
        "*Change failure rate*: 33.3% (1 of 3 deployments: 1 failed) · band *low* (dora-2023)\n"
        "Week before: 0.0% (0 of 1 deployment), *elite*",
    ]
    assert "*By service*" not in "".join(sections(service))
    assert sections(service)[5:8] == [
        "*Failures and rollbacks*\n• D-4 *payments-api* `v1.2` failed, Wed 4 Nov 10:10",
        "*Open failures*\nNone at the end of the week.",
        "*Slowest lead times*\n• *payments-api* `v1.1` (D-3): 26.0 h\n• *payments-api* `v1.2` (D-5): 5.7 h",
    ]


async def test_the_numbers_are_the_metrics_object_and_the_stored_payload_is_what_was_sent(
    uow: Uow, clock: FrozenClock
) -> None:
    await seed(uow)
    await send_due_digests(deps_for(uow, clock), grace=GRACE, now=MONDAY_NINE)
    week = last_full_week(MONDAY_NINE, "UTC")

    async with uow() as work:
        expected = await metrics(work, Scope(ScopeKind.TEAM, "payments"), window_of(week))
        rows = (await work.session.execute(select(DigestRunRow).order_by(DigestRunRow.id))).scalars().all()
        runs = [(r.scope, r.period_start, r.period_end, r.payload) for r in rows]

    (_, team), (_, service) = await digests_sent(uow)
    assert team["metrics"] == expected
    assert runs == [
        ("team:payments", week.start, week.end, team),
        ("service:payments-api", week.start, week.end, service),
    ]


async def test_a_week_already_sent_is_shown_as_sent_and_restated_when_statuses_changed(
    uow: Uow, clock: FrozenClock
) -> None:
    await seed(uow)
    deps = deps_for(uow, clock)
    assert await send_due_digests(deps, grace=GRACE, now=at("2026-11-02T09:00")) == 2
    async with uow() as work:
        await History(work).incident(2, "2026-10-31T08:00")  # payments-api v1.0, deployed the week before
        await work.commit()

    await send_due_digests(deps, grace=GRACE, now=MONDAY_NINE)

    (_, first), _, (_, team), _ = await digests_sent(uow)
    assert sections(first)[3].startswith("*Change failure rate*: 0.0% (0 of 1 deployment) · band *elite*")
    shown = sections(team)
    assert shown[3].endswith(
        "Week before: 0.0% (0 of 1 deployment), *elite* · restated: 100.0% (1 of 1 deployment: 1 incident), *low*"
    )
    assert shown[2].endswith("Week before: median 2.0 h, p90 2.0 h over 1 release, *elite*")
    async with uow() as work:
        stored = (await work.session.execute(select(DigestRunRow.payload).order_by(DigestRunRow.id))).scalars().first()
    assert stored == first


async def test_a_daylight_saving_week_in_the_teams_zone_has_169_hours(uow: Uow, clock: FrozenClock) -> None:
    async with uow() as work:
        h = History(work)
        await h.team("paris", "C0PARIS0001", timezone="Europe/Paris")
        await h.service("checkout", "paris", "C0PARIS0001")
        await h.environment("production", production=True)
        team = {"team": "paris"}
        await h.deploy("checkout", "v1", "success", "2026-10-18T21:59", sha="a", **team)  # Sun 23:59 CEST
        await h.deploy("checkout", "v2", "success", "2026-10-18T22:00", sha="b", **team)  # Mon 00:00 CEST
        await h.deploy("checkout", "v3", "failed", "2026-10-25T01:30", sha="c", **team)  # Sun 02:30 CET
        await h.deploy("checkout", "v4", "success", "2026-10-25T22:59", sha="d", **team)  # Sun 23:59 CET
        await h.deploy("checkout", "v5", "success", "2026-10-25T23:00", sha="e", **team)  # Mon 00:00 CET
        await work.commit()

    await send_due_digests(deps_for(uow, clock), grace=GRACE, now=at("2026-10-26T08:00"))  # Mon 09:00 CET

    [(_, digest)] = await digests_sent(uow)
    assert digest["metrics"]["window"] == {
        "start": "2026-10-18T22:00:00Z",
        "end": "2026-10-25T23:00:00Z",
        "days": 7.041667,
        "tz": "Europe/Paris",
    }
    shown = sections(digest)
    assert shown[0].startswith("Mon 19 Oct to Sun 25 Oct 2026 (Europe/Paris)")
    assert shown[1].startswith("*Deployment frequency*: 2 successful deployments (0.3 a day) on 2 days")
    assert shown[6] == "*Failures and rollbacks*\n• D-3 *checkout* `v3` failed, Sun 25 Oct 02:30"


async def test_the_preview_is_the_callers_teams_digest_and_stores_nothing(uow: Uow, clock: FrozenClock) -> None:
    await seed(uow)
    async with uow() as work:
        payments = (await work.session.execute(select(TeamRow.id).where(TeamRow.name == "payments"))).scalar_one()
        work.session.add(
            UserRow(
                slack_user_id="U0ANALYST1",
                role="analyst",
                team_id=payments,
                notify_prefs={},
                created_at=CREATED,
                updated_at=CREATED,
            )
        )
        await work.commit()
    analyst = Actor(user_id="U0ANALYST1", role=Role.ANALYST)

    async with uow() as work:
        shown = await preview_digest(work, actor=analyst, team=None, now=MONDAY_NINE)
        named = await preview_digest(work, actor=analyst, team="search", now=MONDAY_NINE)
        await work.commit()

    assert shown.period == DigestPeriod(at("2026-11-02T00:00"), at("2026-11-09T00:00"), "UTC")
    assert sections(shown.payload)[:-1] == TEAM_DIGEST
    assert named.payload["title"] == "Weekly DORA digest: search"
    async with uow() as work:
        runs = (await work.session.execute(select(func.count(DigestRunRow.id)))).scalar_one()
        outbox = (await work.session.execute(select(func.count(OutboxRow.id)))).scalar_one()
    assert (runs, outbox) == (0, 0)


async def test_a_preview_of_an_unknown_team_or_without_a_team_says_which_teams_exist(uow: Uow) -> None:
    await seed(uow)
    stranger = Actor(user_id="U0STRANGER", role=Role.DEVELOPER)

    async with uow() as work:
        with pytest.raises(NotFound) as unknown:
            await preview_digest(work, actor=stranger, team="paymnts", now=MONDAY_NINE)
        with pytest.raises(NotFound) as teamless:
            await preview_digest(work, actor=stranger, team=None, now=MONDAY_NINE)
        with pytest.raises(PermissionDenied):
            await preview_digest(work, actor=Actor("U0VIEWER01", Role.VIEWER), team="payments", now=MONDAY_NINE)

    assert unknown.value.render() == (
        "There is no team `paymnts`.\nTeams: `payments`, `search`. Type `/release digest preview team <team>`."
    )
    assert teamless.value.render() == (
        "You are not in a team, so I don't know whose digest to show.\n"
        "Name one: `/release digest preview team <team>`. Teams: `payments`, `search`."
    )

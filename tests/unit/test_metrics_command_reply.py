"""``/release metrics``: the exact reply for known figures, including missing data, and the default scope."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from core.dora import Scope, ScopeKind
from core.errors import NotFound
from core.metrics_report import MetricsReport, resolve_scope, weekly_windows
from core.model import Actor, Role, Team, User
from core.verbs.metrics import MetricsScope
from handlers.metrics_blocks import metrics_reply
from tests.support import blockkit
from tests.unit.test_metrics_command import EMPTY, EXAMPLE, NOW, result


def report(
    current: dict[str, Any], previous: dict[str, Any], weekly: list[dict[str, Any]], **kwargs: Any
) -> MetricsReport:
    fields: dict[str, Any] = {
        "scope": Scope(ScopeKind.TEAM, "payments"),
        "chosen_for_you": False,
        "days": 30,
        "tz": "Europe/Paris",
    }
    fields.update(kwargs)
    return MetricsReport(
        current=current, previous=previous, weekly=weekly, weeks=weekly_windows(NOW, fields["tz"]), **fields
    )


FOOTNOTE = (
    "Production deployments only. *Deployment frequency*: successful deployments; its band counts deploy days per "
    "week over up to 12 weeks. *Lead time*: from the oldest commit of each release to its first successful "
    "production deployment, so it reads higher than a per-commit median. *Change failure rate*: finished "
    "deployments that failed, were rolled back or had an incident attributed. *Time to restore*: from a failure to "
    "the next successful deployment of the service; failures fixed by the same deployment are one outage. Medians "
    "and p90 interpolate between samples. The sparklines show the 12 whole weeks before this one, each from Monday "
    "00:00 in Europe/Paris; `·` is a week without data. Bands: the DORA 2023 bands, which change with each year's "
    "survey."
)


def test_the_reply_shows_each_key_with_percentiles_counts_band_trend_and_sparkline() -> None:
    before = result(
        deployment_frequency__successful_deployments=31,
        lead_time__median_s=152123.0,
        change_failure_rate__rate=0.02,
    )
    weekly = (
        [EMPTY] * 4
        + [
            result(deployment_frequency__successful_deployments=n, change_failure_rate__rate=r, lead_time__median_s=s)
            for n, r, s in [(2, 0.0, 3600.0), (4, 0.5, 7200.0), (8, 0.25, 14400.0), (0, None, None)]
        ]
        + [EXAMPLE] * 4
    )
    text, blocks = metrics_reply(report(EXAMPLE, before, weekly))
    assert [block["type"] for block in blocks] == [
        "header",
        "context",
        "section",
        "section",
        "section",
        "section",
        "context",
    ]
    assert blocks[0]["text"]["text"] == "DORA metrics: team payments, last 30 days"
    assert blocks[1]["elements"][0]["text"] == (
        "5 Oct 2026 16:30 to 4 Nov 2026 16:30 (Europe/Paris), against the 30 days before."
    )
    sections = [block["text"]["text"] for block in blocks[2:6]]
    assert sections == [
        "*Deployment frequency*: 43 successful deployments, 1.4 a day, on 20 deploy days\n"
        "Band: *high* (DORA 2023 bands), a median of 4.5 deploy days a week over 12 weeks\n"
        "Trend: ↑ +12 vs the previous 30 days (31): better\n"
        "Last 12 weeks: `····▂▂▃▁████` (successful deployments a week, highest 43)",
        "*Lead time for changes*: median 1.6 d, p90 6.2 d (42 releases)\n"
        "Band: *high* (DORA 2023 bands)\n"
        "Trend: ↓ -3.0 h vs the previous 30 days (1.8 d): better\n"
        "Last 12 weeks: `····▂▂▂·████` (median a week, highest 1.6 d)",
        "*Change failure rate*: 4.4%, 2 of 45 finished deployments (2 failed, 0 rolled back, 0 with an incident)\n"
        "Band: *elite* (DORA 2023 bands)\n"
        "Trend: ↑ +2.4 pp vs the previous 30 days (2.0%): worse\n"
        "Last 12 weeks: `····▁█▅·▂▂▂▂` (rate a week, highest 50.0%)",
        "*Time to restore*: median 1.5 h, p90 1.6 h (2 restored outages)\n"
        "Band: *high* (DORA 2023 bands)\n"
        "Trend: → no change vs the previous 30 days (1.5 h)\n"
        "Last 12 weeks: `····████████` (median a week, highest 1.5 h)",
    ]
    assert blocks[6]["elements"][0]["text"] == FOOTNOTE
    assert text == "\n\n".join(
        ["*DORA metrics: team payments, last 30 days*\n" + blocks[1]["elements"][0]["text"], *sections]
    )
    blockkit.assert_valid("message", {"text": text, "blocks": blocks})


def test_missing_data_reads_as_no_data_with_its_count_never_as_zero() -> None:
    current = result(
        **{k: v for k, v in EMPTY.items() if k in ("deployment_frequency", "lead_time", "change_failure_rate")},
        time_to_restore__restored_episodes=0,
        time_to_restore__median_s=None,
        time_to_restore__p90_s=None,
        time_to_restore__band_2023=None,
        time_to_restore__open_failures_at_window_end=1,
        time_to_restore__oldest_open_failure_age_s=200000.0,
        lead_time__excluded_missing_committed_at=3,
        in_flight_at_window_end=2,
        window__start="2026-10-28T15:30:00Z",
    )
    scope = Scope(ScopeKind.ORG)
    text, blocks = metrics_reply(
        report(current, EMPTY, [EMPTY] * 12, scope=scope, chosen_for_you=True, days=7, tz="UTC")
    )
    assert blocks[0]["text"]["text"] == "DORA metrics: whole organisation, last 7 days"
    assert blocks[1]["elements"][0]["text"] == (
        "28 Oct 2026 15:30 to 4 Nov 2026 15:30 (UTC), against the 7 days before. Still in progress, not counted: "
        "2 production deployments. You are in no team, so this is everyone; `/release metrics team <team>` shows "
        "one team."
    )
    assert [block["text"]["text"] for block in blocks[2:6]] == [
        "*Deployment frequency*: no data (0 successful deployments)\n"
        "Band: none yet, it needs 4 whole weeks of history and there are 2 (DORA 2023 bands)\n"
        "Trend: none, no data in the previous 7 days\n"
        "Last 12 weeks: `············` (no data)",
        "*Lead time for changes*: no data (0 releases)\n"
        "Left out: 3 without a commit time, 0 committed after they were deployed (clock skew)\n"
        "Band: none (no data)\n"
        "Trend: none, no data in either period\n"
        "Last 12 weeks: `············` (no data)",
        "*Change failure rate*: no data (0 finished deployments)\n"
        "Band: none (no data)\n"
        "Trend: none, no data in either period\n"
        "Last 12 weeks: `············` (no data)",
        "*Time to restore*: no data (0 restored outages)\n"
        "Not restored yet: 1 outage, the oldest for 2.3 d\n"
        "Band: none (no data)\n"
        "Trend: none, no data in either period\n"
        "Last 12 weeks: `············` (no data)",
    ]
    assert "0.0%" not in text
    blockkit.assert_valid("message", {"text": text, "blocks": blocks})


def test_a_team_chosen_for_the_caller_says_how_to_see_everyone() -> None:
    _, blocks = metrics_reply(report(EXAMPLE, EMPTY, [EXAMPLE] * 12, chosen_for_you=True))
    assert blocks[1]["elements"][0]["text"].endswith(" Your team; `/release metrics org` shows everyone.")
    _, blocks = metrics_reply(report(EXAMPLE, EMPTY, [EXAMPLE] * 12, scope=Scope(ScopeKind.SERVICE, "payments-api")))
    assert blocks[0]["text"]["text"] == "DORA metrics: service payments-api, last 30 days"
    assert blocks[3]["text"]["text"].splitlines()[2] == "Trend: none, no data in the previous 30 days"


def test_no_data_now_but_some_before_says_so() -> None:
    _, blocks = metrics_reply(report(EMPTY, EXAMPLE, [EMPTY] * 12))
    assert blocks[3]["text"]["text"].splitlines()[2] == "Trend: none, no data in this period"


class _Found:
    def __init__(self, items: dict[str, Any]) -> None:
        self.items = items

    async def get(self, key: str) -> Any:
        return self.items.get(key)

    async def list(self) -> list[Any]:
        return list(self.items.values())


def _store(user_team: str | None, teams: dict[str, str]) -> Any:
    return SimpleNamespace(
        users=_Found({"U0ERIN0005": User("U0ERIN0005", Role.ANALYST, team=user_team)}),
        teams=_Found({name: Team(name, timezone=tz) for name, tz in teams.items()}),
        services=_Found({}),
    )


@pytest.mark.parametrize(
    ("user_team", "expected"),
    [
        ("payments", (Scope(ScopeKind.TEAM, "payments"), "Europe/Paris")),
        (None, (Scope(ScopeKind.ORG), "America/New_York")),
        ("gone", (Scope(ScopeKind.ORG), "America/New_York")),  # a team no longer declared
    ],
)
async def test_without_a_scope_the_caller_gets_their_declared_team_or_else_the_organisation(
    user_team: str | None, expected: tuple[Scope, str]
) -> None:
    uow = _store(user_team, {"payments": "Europe/Paris"})
    actor = Actor("U0ERIN0005", Role.ANALYST)
    assert await resolve_scope(uow, actor, MetricsScope.MINE, None, "America/New_York") == expected


async def test_an_unknown_service_with_none_declared_says_how_to_add_one() -> None:
    with pytest.raises(NotFound) as caught:
        await resolve_scope(_store(None, {}), Actor("U0ERIN0005", Role.ADMIN), MetricsScope.SERVICE, "api", "UTC")
    assert caught.value.render() == (
        "There is no service `api`.\n"
        "No services are declared yet: an admin adds one with "
        "`/release service add <name> team <team> channel <#channel>`."
    )

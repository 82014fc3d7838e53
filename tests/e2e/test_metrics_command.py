"""``/release metrics`` through signed slash commands, the real app and store, on a small imported history."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.fakeslack import FakeSlack
from bot.runtime import Runtime
from bot.web import build_web_app
from core.dora_import import import_history
from core.model import Actor, Role, Source
from tests.e2e.conftest import ADMIN, Bot, bot_settings
from tests.support import blockkit

# A Wednesday; the team reports in Paris (CET since 25 October), the organisation in New York (EST since
# 1 November).
NOW = datetime(2026, 11, 4, 15, 30, tzinfo=UTC)
ORG_ZONE = "America/New_York"
ANALYST = "U0ERIN0005"
VIEWER = "U0DAVE0004"


def at(text: str | None) -> str | None:
    """``10-29 12:00`` in 2026, UTC, as the import format writes it."""
    return None if text is None else f"2026-{text.replace(' ', 'T')}:00Z"


def attempt(
    event: str, version: str, sha: str, committed: str, deployed: str, finished: str | None, **fields: Any
) -> dict[str, Any]:
    """One payments-api production deployment that succeeded, unless ``fields`` say otherwise."""
    record = {
        "event_id": event,
        "service": "payments-api",
        "team": "payments",
        "environment": "production",
        "version": version,
        "commit_sha": sha,
        "committed_at": at(committed),
        "deployed_at": at(deployed),
        "finished_at": at(finished),
        "status": "success",
        "kind": "deploy",
    }
    record.update(fields)
    return record


def history() -> list[dict[str, Any]]:
    """Weekly Tuesday releases from August (lead time 1 day; none in the week of 7 September), then:

    previous 7 days: a release (lead time 46 h), one rolled back 20 minutes after it finished and the
    rollback 40 minutes after that (restored in 40 min);
    current 7 days: a release (2.1 h), a failed one and its fix 1.4 h later (3 h), a release with an incident
    (24 h) restored 3.8 h later by the next release (2.8 h), one still in progress, a staging deployment
    (never counted) and a search-api release of another team (lead time 1 h)."""
    records = []
    for week in range(11):
        tuesday = datetime(2026, 8, 11, tzinfo=UTC) + timedelta(weeks=week)
        if tuesday.day == 8:  # none in the week of 7 September
            continue
        monday = tuesday - timedelta(days=1)
        sha = f"{week + 1:02d}" + "a" * 38
        records.append(
            attempt(f"weekly-{week}", f"v1.{week}.0", sha, f"{monday:%m-%d} 10:00", f"{tuesday:%m-%d} 09:30",
                    f"{tuesday:%m-%d} 10:00")
        )  # fmt: skip
    f_sha, g_sha = "f" * 40, "9" * 40
    records += [
        attempt("prev-1", "v1.20.0", f_sha, "10-20 12:00", "10-22 09:00", "10-22 10:00"),
        attempt("prev-2", "v1.21.0", g_sha, "10-23 08:00", "10-23 09:00", "10-23 09:20", status="rolled_back"),
        attempt("prev-3", "v1.20.0", f_sha, "10-20 12:00", "10-23 09:40", "10-23 10:00", kind="rollback"),
        attempt("cur-1", "v2.0.0", "a1" * 20, "10-29 10:00", "10-29 11:00", "10-29 12:06"),
        attempt("cur-2", "v2.0.1", "b2" * 20, "10-30 06:00", "10-30 09:00", "10-30 09:36", status="failed"),
        attempt("cur-3", "v2.0.2", "c3" * 20, "10-30 08:00", "10-30 10:00", "10-30 11:00", kind="fix"),
        attempt("cur-4", "v2.1.0", "d4" * 20, "11-02 09:00", "11-03 08:00", "11-03 09:00",
                incident_opened_at=at("11-03 10:00"), incident_resolved_at=at("11-03 12:00")),
        attempt("cur-5", "v2.1.1", "e5" * 20, "11-03 11:00", "11-03 12:00", "11-03 13:48"),
        attempt("cur-6", "v2.2.0", "f6" * 20, "11-04 14:00", "11-04 15:00", None, status="in_progress"),
        attempt("cur-staging", "v2.2.0", "f6" * 20, "11-04 14:00", "11-04 14:10", "11-04 14:20",
                environment="staging"),
        attempt("search-1", "v7.0.0", "7e" * 20, "11-02 09:00", "11-02 09:30", "11-02 10:00",
                service="search-api", team="search"),
    ]  # fmt: skip
    return records


@pytest.fixture
async def bot(database_url: str, fake: FakeSlack) -> AsyncIterator[Bot]:
    """The bot at a fixed time, with teams, environments, people and the history imported."""
    settings = bot_settings(database_url, fake, timezone=ORG_ZONE)
    runtime = Runtime(settings, clock=lambda: NOW, pace_s=0.0, poll_s=0.2, migrate=True)
    await runtime.start()
    server = TestServer(build_web_app(runtime), host="127.0.0.1", port=0)
    await server.start_server()
    async with ClientSession() as http:
        running = Bot(runtime, server, http, fake)
        for text in (
            "team add payments tz Europe/Paris",
            "team add search tz UTC",
            "env add staging order 1",
            "env add production production order 2",
            f"user <@{ANALYST}|erin> role analyst",
        ):
            answer = await running.say(text)
            assert answer.startswith(("Saved", "<@")), answer
        async with runtime.uow() as uow:
            lines = [json.dumps(record) for record in history()]
            admin = Actor(ADMIN, Role.ADMIN, source=Source.CLI)
            await import_history(uow, lines, actor=admin, source="history.jsonl", now=NOW, request_id=None)
            await uow.users.set_role(ANALYST, Role.ANALYST, now=NOW, team="payments")
            await uow.commit()
        yield running
    await server.close()
    await runtime.stop()


async def reply(bot: Bot, text: str, user_id: str = ADMIN) -> dict[str, Any]:
    _, answer = await bot.command(text, user_id=user_id)
    assert answer is not None
    assert answer["response_type"] == "ephemeral"
    assert blockkit.validate("message", {"text": answer["text"], "blocks": answer["blocks"]}) == []
    return answer


def sections(answer: dict[str, Any]) -> list[str]:
    return [block["text"]["text"] for block in answer["blocks"] if block["type"] == "section"]


def contexts(answer: dict[str, Any]) -> list[str]:
    return [block["elements"][0]["text"] for block in answer["blocks"] if block["type"] == "context"]


async def test_an_analyst_sees_their_teams_last_seven_days_with_exact_figures(bot: Bot) -> None:
    answer = await reply(bot, "metrics last 7d", user_id=ANALYST)
    assert answer["blocks"][0]["text"]["text"] == "DORA metrics: team payments, last 7 days"
    assert contexts(answer)[0] == (
        "28 Oct 2026 16:30 to 4 Nov 2026 16:30 (Europe/Paris), against the 7 days before. Still in progress, not "
        "counted: 1 production deployment. Your team; `/release metrics org` shows everyone."
    )
    assert sections(answer) == [
        "*Deployment frequency*: 4 successful deployments, 4 a week, on 3 deploy days\n"
        "Band: *high* (DORA 2023 bands), a median of 1 deploy day a week over 12 weeks\n"
        "Trend: ↑ +2 vs the previous 7 days (2): better\n"
        "Last 12 weeks: `▄▄▄▄▁▄▄▄▄▄█▆` (successful deployments a week, highest 3)",
        "*Lead time for changes*: median 2.9 h, p90 17.7 h (4 releases)\n"
        "Band: *elite* (DORA 2023 bands)\n"
        "Trend: ↓ -1.8 d vs the previous 7 days (1.9 d): better\n"
        "Last 12 weeks: `▆▆▆▆·▆▆▆▆▆█▂` (median a week, highest 1.5 d)",
        "*Change failure rate*: 40.0%, 2 of 5 finished deployments (1 failed, 0 rolled back, 1 with an incident)\n"
        "Band: *low* (DORA 2023 bands)\n"
        "Trend: ↑ +6.7 pp vs the previous 7 days (33.3%): worse\n"
        "Last 12 weeks: `▁▁▁▁·▁▁▁▁▁▇█` (rate a week, highest 33.3%)",
        "*Time to restore*: median 2.6 h, p90 3.6 h (2 restored outages)\n"
        "Band: *high* (DORA 2023 bands)\n"
        "Trend: ↑ +1.9 h vs the previous 7 days (40 min): worse\n"
        "Last 12 weeks: `··········▅█` (median a week, highest 1.4 h)",
    ]
    assert "oldest commit of each release" in contexts(answer)[1]


async def test_the_organisation_reports_in_the_configured_zone_and_pools_every_team(bot: Bot) -> None:
    answer = await reply(bot, "metrics org last 7d")
    assert answer["blocks"][0]["text"]["text"] == "DORA metrics: whole organisation, last 7 days"
    assert contexts(answer)[0] == (
        "28 Oct 2026 10:30 to 4 Nov 2026 10:30 (America/New_York), against the 7 days before. Still in progress, "
        "not counted: 1 production deployment."
    )
    frequency, lead_time, *_ = sections(answer)
    assert frequency.splitlines()[0] == "*Deployment frequency*: 5 successful deployments, 5 a week, on 4 deploy days"
    assert lead_time.splitlines()[0] == "*Lead time for changes*: median 2.8 h, p90 15.6 h (5 releases)"


async def test_a_service_over_ninety_days_and_someone_without_a_team_gets_the_organisation(bot: Bot) -> None:
    answer = await reply(bot, "metrics service search-api last 90d")
    assert answer["blocks"][0]["text"]["text"] == "DORA metrics: service search-api, last 90 days"
    assert sections(answer)[0].splitlines()[:3] == [
        "*Deployment frequency*: 1 successful deployment, 0.1 a week, on 1 deploy day",
        "Band: *low* (DORA 2023 bands), a median of 0 deploy days a week over 12 weeks",
        "Trend: none, no data in the previous 90 days",
    ]
    mine = await reply(bot, "metrics")
    assert mine["blocks"][0]["text"]["text"] == "DORA metrics: whole organisation, last 30 days"
    assert contexts(mine)[0].endswith(
        " You are in no team, so this is everyone; `/release metrics team <team>` shows one team."
    )


async def test_unknown_names_and_bad_periods_are_refused_with_what_to_type(bot: Bot) -> None:
    assert (await reply(bot, "metrics team nope"))["text"] == ("There is no team `nope`.\nTeams: `payments`, `search`.")
    assert (await reply(bot, "metrics service payments"))["text"] == (
        "There is no service `payments`.\nServices: `payments-api`, `search-api`. `/release status` lists them "
        "with what runs where."
    )
    assert (await reply(bot, "metrics last 14d"))["text"] == (
        "`14d` is not a period I can show: use `last 7d`, `last 30d` or `last 90d`.\n"
        "Usage: `/release metrics [org | team <team> | service <service>] [last 7d|30d|90d]`"
    )


async def test_a_viewer_is_told_which_roles_may_read_metrics(bot: Bot) -> None:
    assert (await reply(bot, "metrics", user_id=VIEWER))["text"] == (
        "You can't see DORA metrics: your role is viewer.\n"
        "Only admins, developers, analysts may do that; ask an admin (`/release user @you role <role>`) if you "
        "need it."
    )

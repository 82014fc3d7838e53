"""The history and where verbs, durations in words, the outcome of each status, and their Block Kit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import grammar
from core.errors import UsageError
from core.history import ChainLink, ChainStep, DeploymentRecord, ServiceHistory, chain_links, duration, humanise
from core.model import Deployment, DeploymentStatus, Environment, Policy, Service
from core.text import slack_date
from core.verbs import history as hv
from core.where import ServiceWhere, Standing
from handlers import history_blocks
from tests.support import blockkit

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SERVICE = Service("payments-api", "payments", "C0PAYMENTS1")
STAGING = Environment("staging", order=1)


def usage_error(text: str) -> str:
    with pytest.raises(UsageError) as caught:
        grammar.parse(text)
    return caught.value.message


def test_history_takes_a_service_an_optional_environment_and_limit() -> None:
    assert grammar.parse("history payments-api") == hv.History("payments-api", None, 20)
    assert grammar.parse("history payments-api production") == hv.History("payments-api", "production", 20)
    assert grammar.parse("history payments-api limit 5") == hv.History("payments-api", None, 5)
    assert grammar.parse("HISTORY Payments-API staging LIMIT 100") == hv.History("payments-api", "staging", 100)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("history", "Missing the service."),
        ("history payments-api limit", "Missing a value after `limit`."),
        ("history payments-api limit ten", "`ten` is not a limit: give a whole number from 1 to 100."),
        ("history payments-api limit -3", "`-3` is not a limit: give a whole number from 1 to 100."),
        ("history payments-api limit ²", "`²` is not a limit: give a whole number from 1 to 100."),
        ("history payments-api limit 0", "A limit of 0 is out of range: give a whole number from 1 to 100."),
        ("history payments-api limit 101", "A limit of 101 is out of range: give a whole number from 1 to 100."),
        ("history payments-api staging limit 5 limit 6", "`limit` is given twice."),
        ("history payments-api staging production", "Unexpected `production`."),
        ("history payments-api Stag/ing", "`Stag/ing` is not a valid environment name"),
        ("history <b>", "`&lt;b&gt;` is not a valid service name"),
        ("where", "Missing the service."),
        ("where payments-api staging", "Unexpected `staging`."),
    ],
)
def test_bad_history_and_where_input_says_what_was_wrong(text: str, message: str) -> None:
    assert usage_error(text).startswith(message)


def test_a_usage_error_shows_the_usage() -> None:
    with pytest.raises(UsageError) as caught:
        grammar.parse("history payments-api limit 500")
    assert caught.value.hint == "Usage: `/release history <service> [<env>] [limit <n>]`"


def test_where_takes_one_service() -> None:
    assert grammar.parse("where payments-api") == hv.Where("payments-api")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "under 1s"), (42, "42s"), (200, "3m 20s"), (3605, "1h"), (7500, "2h 5m"), (100_000, "1d 3h")],
)
def test_durations_read_as_the_two_largest_units(seconds: float, text: str) -> None:
    assert humanise(seconds) == text


def _deployment(status: DeploymentStatus, **extra: object) -> Deployment:
    fields: dict[str, object] = {
        "service": "payments-api",
        "version": "v2",
        "environment": "staging",
        "status": status,
        "requested_by": "U0BOB00002",
        "requested_at": NOW - timedelta(minutes=5),
        "id": 7,
    }
    return Deployment(**{**fields, **extra})  # type: ignore[arg-type]


def test_a_duration_runs_from_start_to_finish_or_until_now_while_running() -> None:
    started = NOW - timedelta(minutes=4)
    done = _deployment(DeploymentStatus.SUCCESS, started_at=started, finished_at=started + timedelta(seconds=90))
    assert duration(done, NOW) == "took 1m 30s"
    assert duration(_deployment(DeploymentStatus.RUNNING, started_at=started), NOW) == "running for 4m"
    assert duration(_deployment(DeploymentStatus.PENDING_APPROVAL), NOW) is None


def test_each_live_release_is_paired_with_the_one_after_it() -> None:
    steps = [ChainStep(n, n, f"v{n}", "deploy", NOW - timedelta(hours=n)) for n in (3, 2, 1)]
    assert chain_links(steps, 2) == [ChainLink(steps[0], steps[1]), ChainLink(steps[1], steps[2])]
    assert chain_links(steps, 5)[-1] == ChainLink(steps[2], None)


def test_a_history_line_shows_outcome_duration_people_and_when() -> None:
    started = NOW - timedelta(minutes=4)
    rollback = _deployment(
        DeploymentStatus.SUCCESS, kind="rollback", rollback_of_id=6, started_at=started, finished_at=started
    )
    line = history_blocks.record_line(DeploymentRecord(rollback, ("U0CAROL003",), "v3"), NOW)
    assert line == (
        "• *D-7* :rewind: rollback of D-6 (`v3`) to `v2` in *staging*: :white_check_mark: success · took under 1s"
        f" · by <@U0BOB00002> · approved by <@U0CAROL003> · {slack_date(NOW - timedelta(minutes=5))}"
    )
    rejected = _deployment(DeploymentStatus.REJECTED, status_reason="not <!here> today")
    assert history_blocks.record_line(DeploymentRecord(rejected, rolled_back_by=None), NOW) == (
        "• *D-7* `v2` to *staging*: :no_entry: rejected (not &lt;!here&gt; today) · by <@U0BOB00002> · "
        f"{slack_date(NOW - timedelta(minutes=5))}"
    )


def test_a_long_history_stays_within_one_message() -> None:
    records = [
        DeploymentRecord(
            _deployment(DeploymentStatus.SUCCESS, id=n, started_at=NOW, finished_at=NOW),
            ("U0CAROL003", "U0DAVE0004", "U0ERIN0005"),
        )
        for n in range(100, 0, -1)
    ]
    chain = [
        ChainLink(ChainStep(n, n, f"v{n}", "deploy", NOW), ChainStep(n - 1, n - 1, f"v{n - 1}", "deploy", NOW))
        for n in range(100, 0, -1)
    ]
    found = ServiceHistory(SERVICE, STAGING, 100, records, chain)
    text, blocks = history_blocks.history(found, NOW)
    assert blockkit.validate("message", {"text": text, "blocks": blocks}) == []
    assert len(blocks) <= 50
    assert sum(len(block.get("text", {}).get("text", "")) for block in blocks) <= history_blocks.MESSAGE_BUDGET + 500
    assert text.endswith("more live releases not shown. Ask for fewer with `limit <n>`.")
    assert "more not shown: one message holds no more." in text


def test_where_lists_every_reason_in_a_valid_message() -> None:
    production = Environment("production", 2, True, Policy(approvals=2, approvers=["admin", "U0CAROL003"]))
    refused = Standing(production, None, ["first reason", "second"], "2 approval(s) by admins", False)
    allowed = Standing(STAGING, _deployment(DeploymentStatus.SUCCESS, finished_at=NOW), [], "no approval needed", True)
    text, blocks = history_blocks.where(ServiceWhere(SERVICE, None, [allowed, refused]))
    assert blockkit.validate("message", {"text": text, "blocks": blocks}) == []
    assert text == (
        "*Where payments-api stands* (no release yet)\n"
        f"*staging*: `v2` since {slack_date(NOW)} (D-7)\n:white_check_mark: You may deploy here now.\n"
        "Approvals: no approval needed (you may approve).\n"
        "*production*: nothing deployed yet\n:no_entry: You may not deploy here now:\n• first reason\n• second\n"
        "Approvals: 2 approval(s) by admins (you may not approve)."
    )

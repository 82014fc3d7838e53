"""App Home as Block Kit: valid, within 100 blocks however much there is, the same data giving the same view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.deployment_views import DeploymentView
from core.home import DoraHeadline, HomeData, MatrixCell, MatrixRow, RefreshSchedule, week_of
from core.model import (
    Deployment,
    DeploymentStatus,
    Environment,
    Freeze,
    FreezeWindow,
    Lock,
    NotifyLevel,
    Policy,
    Role,
    Service,
)
from handlers import ids
from handlers.home_blocks import MAX_BLOCKS, duration_text, home_view, view_digest
from tests.support import blockkit

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
PRODUCTION = Environment(name="production", order=2, is_production=True, policy=Policy(approvals=1))


def deployment(number: int, status: DeploymentStatus, environment: str = "production") -> Deployment:
    return Deployment(
        service=f"svc-{number % 7}",
        version=f"v{number}",
        environment=environment,
        status=status,
        requested_by="U0BOB00002",
        requested_at=NOW - timedelta(hours=number),
        finished_at=None if status is DeploymentStatus.PENDING_APPROVAL else NOW - timedelta(hours=number),
        expires_at=NOW + timedelta(hours=4) if status is DeploymentStatus.PENDING_APPROVAL else None,
        id=number,
    )


def waiting(number: int) -> DeploymentView:
    return DeploymentView(
        deployment=deployment(number, DeploymentStatus.PENDING_APPROVAL),
        environment=PRODUCTION,
        release=None,
        previous_version=None,
        approvers_text="any admin or developer",
    )


def data(**changes: Any) -> HomeData:
    environments = [Environment(name="staging", order=1), PRODUCTION]
    base: dict[str, Any] = {
        "user_id": "U0CAROL003",
        "role": Role.DEVELOPER,
        "team": "payments",
        "approvals": [waiting(1)],
        "recent": [deployment(2, DeploymentStatus.SUCCESS, "staging")],
        "environments": environments,
        "matrix": [
            MatrixRow(
                Service(name="payments-api", team="payments", slack_channel="C0PAYMENTS1"),
                [MatrixCell(env.name, None, None, None, None) for env in environments],
            )
        ],
        "locks": [],
        "freezes": [],
        "dora": DoraHeadline("team payments", *week_of(NOW, "UTC"), None),
        "prefs": {"deploy-finished": True, "approval-requests": False},
        "now": NOW,
    }
    return HomeData(**{**base, **changes})


def crowded() -> HomeData:
    environments = [Environment(name=f"env-{n}", order=n) for n in range(14)]
    services = [Service(name=f"svc-{n:02d}", team="payments", slack_channel=f"C0SVC{n:05d}") for n in range(60)]
    locks = [
        Lock(environment=f"env-{n}", owner="U0BOB00002", created_at=NOW, reason="x" * 500, id=n) for n in range(40)
    ]
    freezes = [
        FreezeWindow(
            Freeze(environment="env-1", created_by="U0ALICE001", created_at=NOW, reason="<!channel> & more", id=n),
            NOW + timedelta(days=n),
            NOW + timedelta(days=n, hours=2),
        )
        for n in range(40)
    ]
    cells = [
        MatrixCell(env.name, deployment(1, DeploymentStatus.SUCCESS, env.name), None, None, None)
        for env in environments
    ]
    return data(
        approvals=[waiting(n) for n in range(1, 31)],
        recent=[deployment(n, DeploymentStatus.FAILED) for n in range(1, 11)],
        environments=environments,
        matrix=[MatrixRow(service, cells) for service in services],
        locks=locks,
        freezes=freezes,
    )


def texts(view: dict[str, Any]) -> list[str]:
    found = []
    for block in view["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [element["text"] for element in block.get("elements", []) if element.get("type") == "mrkdwn"]
    return found


def test_a_crowded_home_stays_within_100_blocks_and_says_what_it_left_out() -> None:
    view = home_view(crowded(), notice="You approved D-1.")
    blockkit.assert_valid("home", view)
    assert len(view["blocks"]) <= MAX_BLOCKS
    shown = texts(view)
    assert "…and 25 more: `/release pending`" in shown
    assert any("…and 40 more: `/release status`" in text for text in shown)
    assert any("The first 10 environments are shown: `/release status` shows all." in text for text in shown)
    locks = next(text for text in shown if text.startswith(":lock: L-0"))
    assert locks.endswith("more: `/release locks`") and len(locks) <= 3000
    freezes = next(text for text in shown if text.startswith(":snowflake: F-0"))
    assert freezes.endswith("more: `/release freezes`") and "&lt;!channel&gt; &amp; more" in freezes
    assert sum(1 for b in view["blocks"] if b["type"] == "actions") == 5
    assert all(len(b.get("fields", [])) <= 10 for b in view["blocks"])


def test_the_same_data_gives_the_same_view_and_the_notice_stays_out_of_the_comparison() -> None:
    assert view_digest(home_view(data())) == view_digest(home_view(data()))
    assert view_digest(home_view(data())) != view_digest(home_view(data(approvals=[])))
    noticed = home_view(data(), notice="You approved D-1.")
    assert texts(noticed)[0] == ":information_source: You approved D-1."
    assert noticed["callback_id"] == ids.HOME_VIEW


def test_the_dora_headline_shows_the_four_keys() -> None:
    figures = {
        "deployment_frequency": {"successful_deployments": 12},
        "lead_time": {"median_s": 141323.0},
        "change_failure_rate": {"finished_deployments": 12, "failed_deployments": 1, "rate": 1 / 12},
        "time_to_restore": {"median_s": 5575.0},
    }
    view = home_view(data(dora=DoraHeadline("team payments", *week_of(NOW, "UTC"), figures)))
    blockkit.assert_valid("home", view)
    section = next(b for b in view["blocks"] if b.get("fields") and "*Deploys*" in b["fields"][0]["text"])
    assert [field["text"] for field in section["fields"]] == [
        "*Deploys*\n12",
        "*Lead time (median)*\n1.6 d",
        "*Change failure rate*\n8.3% (1 of 12)",
        "*Time to restore (median)*\n1.5 h",
    ]
    assert "This week: team payments" in texts(view)
    assert "DORA metrics: no data." in texts(home_view(data()))
    assert not any("This week" in text for text in texts(home_view(data(dora=None))))  # a viewer sees no metrics


def test_durations_read_as_in_the_metrics_command() -> None:
    assert [duration_text(s) for s in (None, 20, 2700, 5575, 141323)] == [
        "no data",
        "20 s",
        "45 min",
        "1.5 h",
        "1.6 d",
    ]


def test_the_week_runs_from_monday_in_the_teams_time_zone() -> None:
    start, end = week_of(NOW, "Europe/Paris")
    assert (start, end) == (datetime(2026, 11, 15, 23, 0, tzinfo=UTC), datetime(2026, 11, 22, 23, 0, tzinfo=UTC))


def test_the_notification_section_shows_direct_messages_and_channel_levels() -> None:
    service = Service(name="payments-api", team="payments", slack_channel="C0PAYMENTS1")
    service.notify_level = NotifyLevel.DIGEST_ONLY
    view = home_view(data(matrix=[MatrixRow(service, [])]))
    assert texts(view)[-3:] == [
        "Your notifications",
        "Direct messages: how your deployments ended: *on* (`deploy-finished`); each deployment you are asked to "
        "approve: *off* (`approval-requests`).\nChannels: *payments-api* `digest-only`.",
        "Change them with `/release notify`: `/release notify me approval-requests on`, for example.",
    ]


def test_changes_coalesce_and_a_later_change_never_postpones_the_refresh() -> None:
    schedule = RefreshSchedule(delay=timedelta(seconds=3), interval=timedelta(seconds=10))
    assert not schedule.take(NOW)
    schedule.changed(NOW)
    schedule.changed(NOW + timedelta(seconds=2))
    assert schedule.seconds_until_due(NOW + timedelta(seconds=2)) == 1.0
    assert not schedule.take(NOW + timedelta(seconds=2.9))
    assert schedule.take(NOW + timedelta(seconds=3))
    assert not schedule.take(NOW + timedelta(seconds=3))  # once
    schedule.again_at(NOW + timedelta(seconds=20))
    schedule.again_at(NOW + timedelta(seconds=15))
    assert schedule.due_at == NOW + timedelta(seconds=15)
    assert schedule.last_publish_allowed(NOW) == NOW - timedelta(seconds=10)


def test_anything_beyond_100_blocks_is_cut_with_a_pointer() -> None:
    from handlers.blocks import section
    from handlers.home_blocks import _capped

    capped = _capped([section(str(n)) for n in range(150)])
    assert len(capped) == MAX_BLOCKS
    assert capped[-1]["elements"][0]["text"] == "There is more than a Home tab can show: `/release status`."

"""The rollback, cancel and incident verbs, --override-bad on deploy, and the cards and notices they show."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import grammar
from core.deployment_views import DeploymentView
from core.errors import UsageError
from core.model import Deployment, DeploymentStatus, Environment, Policy, Rollback
from core.verbs import releases as rv
from core.verbs import rollbacks as bv
from handlers import cards, notices
from tests.support import blockkit

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_rollback_takes_an_optional_target_reason_and_no_lock_flag() -> None:
    assert grammar.parse("rollback payments-api production") == bv.RollBack("payments-api", "production")
    assert grammar.parse("rollback payments-api production to v1.2 reason db <!here> --no-lock") == bv.RollBack(
        "payments-api", "production", "v1.2", "db <!here>", lock=False
    )
    assert grammar.parse("rollback payments-api production reason slow to v1") == bv.RollBack(
        "payments-api", "production", None, "slow to v1"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rollback payments-api", "Missing the environment."),
        ("rollback payments-api production to", "Missing a value after `to`."),
        ("rollback payments-api production to v1 to v2", "`to` is given twice."),
        ("rollback payments-api production now", "Unexpected `now`."),
        ("cancel", "Missing the deployment (like D-42)."),
        ("cancel R-4", "`R-4` is not a D reference."),
        ("cancel D-4 now", "Unexpected `now`."),
        ("incident", "Missing the deployment (like D-42), or `resolve D-42`."),
        ("incident resolve", "Missing the deployment (like D-42)."),
        ("incident resolve D-1 now", "Unexpected `now`."),
        ("deploy payments-api v2 to production --override-bad", "Missing the reason for overriding the bad release."),
        (
            "deploy payments-api v2 to production --override-bad a --override-bad b",
            "`--override-bad` is given twice.",
        ),
    ],
)
def test_bad_input_is_explained(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        grammar.parse(text)
    assert caught.value.message == message


def test_cancel_and_incident_take_a_deployment_reference() -> None:
    assert grammar.parse("cancel D-42") == bv.Cancel(42)
    assert grammar.parse("incident D-42") == bv.OpenIncident(42)
    assert grammar.parse("incident D-42 checkout errors") == bv.OpenIncident(42, "checkout errors")
    assert grammar.parse("incident resolve d-42") == bv.ResolveIncident(42)


def test_deploy_takes_both_overrides_in_either_order() -> None:
    assert grammar.parse("deploy a v2 to production --override-bad fixed --override-freeze hot fix") == rv.Deploy(
        "a", "v2", "production", override_freeze="hot fix", override_bad="fixed"
    )
    assert grammar.parse("deploy a v2 to production --override-freeze hotfix") == rv.Deploy(
        "a", "v2", "production", override_freeze="hotfix"
    )


def _view(deployment: Deployment, **extra: object) -> DeploymentView:
    environment = Environment("production", is_production=True, policy=Policy())
    return DeploymentView(deployment, environment, None, "v2", **extra)  # type: ignore[arg-type]


def _deployment(status: DeploymentStatus, **extra: object) -> Deployment:
    return Deployment(
        "payments-api",
        "v1",
        "production",
        status,
        "U0BOB00002",
        NOW,
        id=3,
        **extra,  # type: ignore[arg-type]
    )


def test_a_rollback_card_names_what_it_rolls_back_and_why() -> None:
    rollback = Rollback("payments-api", "production", 2, 1, "U0BOB00002", NOW, reason="db <!here>", deployment_id=3)
    view = _view(_deployment(DeploymentStatus.SUCCESS, kind="rollback", rollback_of_id=2), rollback=rollback)
    text, blocks = cards.deployment_message(view)
    blockkit.assert_valid("message", {"text": text, "blocks": blocks})
    notes = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert notes == [":rewind: Rollback of D-2 by <@U0BOB00002>: db &lt;!here&gt;"]


def test_a_cancelled_card_mentions_who_cancelled_it_and_escapes_the_rest() -> None:
    view = _view(_deployment(DeploymentStatus.CANCELLED, status_reason="cancelled by <@U0ALICE001> <!channel>"))
    _, blocks = cards.deployment_message(view)
    notes = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert notes == ["cancelled by <@U0ALICE001> &lt;!channel&gt;"]


def test_a_card_being_cancelled_says_so() -> None:
    running = _deployment(DeploymentStatus.RUNNING, cancel_requested=True, status_reason="cancelled by <@U0ALICE001>")
    _, blocks = cards.deployment_message(_view(running))
    notes = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert notes == [":heavy_multiplication_x: Being cancelled by <@U0ALICE001>: the running stage is being stopped."]


def test_incident_notices() -> None:
    data = {
        "event": "opened",
        "reference": "D-3",
        "service": "payments-api",
        "version": "v1",
        "environment": "production",
        "note": "errors <!here>",
        "by": "U0BOB00002",
    }
    assert notices.incident_notice(data)[0] == (
        ":fire: <@U0BOB00002> attributed an incident to D-3 (*payments-api* `v1` in *production*): errors &lt;!here&gt;"
    )
    resolved = data | {"event": "resolved", "restored_s": 5400}
    assert notices.incident_notice(resolved)[0] == (
        ":white_check_mark: <@U0BOB00002> resolved the incident on D-3 (*payments-api* `v1` in *production*), 1h30m "
        "after it was opened."
    )

"""The dry run of a deployment against the real store, on SQLite and PostgreSQL: what the preview shows (exact
text), that it stores nothing, and that it agrees with the real request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core import configuration, deployments, freezes, locks, policies, preview, releases, runbooks
from core.errors import PermissionDenied
from core.model import Actor, Role
from core.preview import RequestInputError
from handlers import preview_blocks
from storage.rows import AuditRow, DeploymentRow, LockRow, OutboxRow, ProcessedRequestRow, ReleaseRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import ADMIN, DEV, VIEWER, FrozenClock
from tests.support import blockkit

Uow = Callable[[], SqlUnitOfWork]
CAROL = Actor(user_id="U0CAROL003", role=Role.DEVELOPER)
REPO = "https://github.com/acme/payments-api"
TABLES = (AuditRow.id, DeploymentRow.id, LockRow.id, OutboxRow.id, ProcessedRequestRow.request_key, ReleaseRow.id)


async def _deploy(work: SqlUnitOfWork, clock: FrozenClock, version: str, environment: str) -> None:
    await deployments.request_deployment(
        work, actor=DEV, service="payments-api", version=version, environment=environment, now=clock(), request_id=None
    )


@pytest.fixture
async def history(workspace: Uow, clock: FrozenClock) -> Uow:
    """v1 runs in staging and production, v2 in staging; production then asks for 2 approvals and staging first."""
    common: dict[str, Any] = {"now": clock(), "request_id": None}
    async with workspace() as work:
        await configuration.add_service(
            work, actor=ADMIN, name="payments-api", team="payments", channel="C0PAYMENTS1", repo=REPO, **common
        )
        for version, sha in (("v1", "abc1234"), ("v2", "def5678")):
            await releases.create_release(
                work, actor=DEV, service="payments-api", version=version, commit=sha, notes="Faster refunds", **common
            )
        await _deploy(work, clock, "v1", "staging")
        await _deploy(work, clock, "v1", "production")
        await _deploy(work, clock, "v2", "staging")
        await policies.set_policy(
            work,
            actor=ADMIN,
            environment="production",
            approvals=2,
            approvers=["developer", "admin"],
            expire_s=None,
            requires_env="staging",
            self_approval=None,
            **common,
        )
        await work.commit()
    return workspace


async def _counts(uow: Uow) -> list[int]:
    async with uow() as work:
        return [int((await work.session.execute(select(func.count(c)))).scalar_one()) for c in TABLES]


async def _preview(uow: Uow, clock: FrozenClock, actor: Actor = DEV, **request: Any) -> preview.DeploymentPreview:
    fields = {"service": "payments-api", "version": "v2", "environment": "production"} | request
    async with uow() as work:
        return await preview.preview_deployment(work, actor=actor, now=clock(), **fields)


def _texts(found: preview.DeploymentPreview) -> list[str]:
    text, message = preview_blocks.preview_message(found, token="T-1")
    blockkit.assert_valid("message", {"blocks": message, "text": text})
    return [b["text"]["text"] for b in message if b["type"] == "section"]


async def test_a_clear_request_shows_the_delta_the_compare_link_and_the_approvals(
    history: Uow, clock: FrozenClock
) -> None:
    found = await _preview(history, clock)
    assert found.allowed
    assert _texts(found) == [
        "*Dry run*: *payments-api* `v2` to *production*. Nothing was stored.",
        "*Version*: `v1` → `v2`\n"
        f"*Commits*: `abc1234` → `def5678` (<{REPO}/compare/abc1234...def5678|compare>)\n"
        "*Approvals*: 2 by developers, admins; not by you, the requester\n"
        "*Promotion order*: `v2` succeeded in *staging*, as *production* requires",
        "*In the way*: nothing (no lock, freeze or other deployment)",
        ":white_check_mark: Allowed: it would wait for approval, then deploy.",
    ]
    _, message = preview_blocks.preview_message(found, token="T-1")
    (button,) = message[-1]["elements"]
    assert button["action_id"] == "deploy_confirm" and "confirm" in button  # production asks again
    assert button["value"] == '{"s":"payments-api","v":"v2","e":"production","t":"T-1"}'


async def test_locks_and_a_freeze_in_the_way_are_all_listed_with_owner_reason_and_end(
    history: Uow, clock: FrozenClock
) -> None:
    now = clock()
    async with history() as work:
        await locks.lock_scope(
            work,
            actor=CAROL,
            environment="production",
            service=None,
            duration_s=7200,
            reason="db migration",
            now=now,
            request_id=None,
        )
        await locks.lock_scope(
            work,
            actor=DEV,
            environment="production",
            service="payments-api",
            duration_s=None,
            reason="my release",
            now=now,
            request_id=None,
        )
        await freezes.freeze_environment(
            work,
            actor=ADMIN,
            environment="production",
            starts_at=None,
            ends_at=now + timedelta(hours=3),
            reason="Black Friday",
            now=now,
            request_id=None,
        )
        await work.commit()
    found = await _preview(history, clock)
    assert [b.kind for b in found.blockers] == ["lock", "freeze"]
    assert _texts(found)[2:] == [
        "*In the way*:\n"
        "• :lock: production is locked by <@U0CAROL003> until 11:00 UTC: db migration.\n"
        "• :snowflake: production is frozen until 12:00 UTC: Black Friday.\n"
        "• :unlock: your own lock lets you through (production locked for payments-api: my release).",
        ":no_entry: It would be refused now: 2 things are in the way.",
    ]
    _, message = preview_blocks.preview_message(found, token="T-1")
    assert all(b["type"] != "actions" for b in message)  # no Confirm when something is in the way


async def test_first_deployment_promotion_and_a_bad_release_are_explained(history: Uow, clock: FrozenClock) -> None:
    async with history() as work:
        await releases.create_release(
            work, actor=DEV, service="payments-api", version="v3", commit=None, notes=None, now=clock(), request_id=None
        )
        release = await work.releases.get("payments-api", "v1")
        assert release is not None and release.id is not None
        await work.releases.mark_bad(release.id)
        await work.commit()
    found = await _preview(history, clock, version="v3")
    assert [b.kind for b in found.blockers] == ["promotion"]
    assert _texts(found)[1].splitlines() == [
        "*Version*: `v1` → `v3`",
        "*Commits*: not given for this release",
        "*Approvals*: 2 by developers, admins; not by you, the requester",
        "*Promotion order*: :no_entry: payments-api `v3` has not succeeded in staging yet, and production requires it.",
    ]
    bad = await _preview(history, clock, version="v1", environment="staging")
    assert [(b.kind, b.field) for b in bad.blockers] == [("bad_release", "version")]
    assert bad.blockers[0].message == "payments-api `v1` is marked bad: it was marked bad."
    overridden = await _preview(history, clock, version="v1", environment="staging", override_bad="hotfix")
    assert overridden.allowed


async def test_runbooks_of_the_service_are_linked(history: Uow, clock: FrozenClock) -> None:
    async with history() as work:
        await runbooks.save_runbook(
            work,
            actor=DEV,
            runbook_id=None,
            draft=runbooks.RunbookDraft(
                title="Payments failover", content="Switch to the *standby*.", service="payments-api"
            ),
            now=clock(),
            request_id=None,
        )
        await work.commit()
    found = await _preview(history, clock)
    assert "*Runbooks*:\n• RB-1 *Payments failover*: `/release runbook show RB-1`" in _texts(found)


async def test_the_dry_run_stores_nothing_and_the_real_request_agrees(history: Uow, clock: FrozenClock) -> None:
    before = await _counts(history)
    found = await _preview(history, clock, environment="staging", version="v1")
    assert found.current is not None and found.current.version == "v2"
    assert await _counts(history) == before
    async with history() as work:
        outcome = await deployments.request_deployment(
            work,
            actor=DEV,
            service="payments-api",
            version="v1",
            environment="staging",
            now=clock(),
            request_id="after-the-dry-run",
        )
        await work.commit()
    assert outcome.previous_version == "v2"


async def test_unknown_inputs_name_their_field_and_roles_are_checked(history: Uow, clock: FrozenClock) -> None:
    for request, field in (
        ({"service": "nope"}, "service"),
        ({"environment": "moon"}, "environment"),
        ({"version": "v9"}, "version"),
    ):
        with pytest.raises(RequestInputError) as caught:
            await _preview(history, clock, **request)
        assert caught.value.field == field
    with pytest.raises(RequestInputError) as caught:
        await _preview(history, clock, version="v9")
    assert caught.value.render() == (
        "`payments-api` has no release `v9`.\nCreate it first: `/release create payments-api v9 commit <sha>`."
    )
    with pytest.raises(PermissionDenied):
        await _preview(history, clock, VIEWER)


async def test_a_freeze_override_by_a_developer_is_in_the_way_and_by_an_admin_needs_a_second_admin(
    history: Uow, clock: FrozenClock
) -> None:
    now = clock()
    async with history() as work:
        await freezes.freeze_environment(
            work,
            actor=ADMIN,
            environment="staging",
            starts_at=None,
            ends_at=now + timedelta(hours=1),
            reason=None,
            now=now,
            request_id=None,
        )
        await work.commit()
    by_dev = await _preview(history, clock, environment="staging", version="v1", override_freeze="urgent")
    assert [b.message for b in by_dev.blockers] == ["Only admins may override a freeze."]
    by_admin = await _preview(history, clock, ADMIN, environment="staging", version="v1", override_freeze="urgent")
    assert by_admin.allowed and by_admin.needs_approval
    texts = _texts(by_admin)
    assert (
        texts[1].splitlines()[2]
        == "*Approvals*: one by a second admin, for the freeze override; not by you, the requester"
    )
    assert texts[2] == (
        "*In the way*:\n• :snowflake: staging is frozen until 10:00 UTC; your override lets it through once a "
        "second admin approves."
    )

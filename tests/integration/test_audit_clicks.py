"""Button clicks are audited through ``handlers.audit_trail.audit_click``, whatever comes of them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from handlers.audit_trail import audit_click
from handlers.deps import Deps
from storage.audit import verify_chain
from storage.rows import AuditRow
from storage.uow import SqlUnitOfWork
from tests.integration.conftest import FrozenClock
from tests.support.slack_requests import sample


async def test_a_click_is_recorded_with_what_was_pressed_where(
    uow: Callable[[], SqlUnitOfWork], clock: FrozenClock
) -> None:
    payload = sample("block_actions.json")["payload"]
    payload["actions"][0]["value"] = "D-42"
    await audit_click(Deps(uow=uow, clock=clock), payload)
    await audit_click(Deps(uow=uow, clock=clock), sample("block_actions.json")["payload"], target="D-7")
    async with uow() as work:
        rows = [
            (r.actor, r.action, r.target, r.request_id, r.details)
            for r in (await work.session.scalars(select(AuditRow).order_by(AuditRow.id)))
        ]
        assert (await verify_chain(work.session)).broken_id is None
    assert rows[0] == (
        "U0BOB00002",
        "button.click",
        "D-42",
        "1767225598.123456",
        {
            "action_id": "release_approve",
            "block_id": "rel-decision:REL-42",
            "value": "D-42",
            "channel": "C0PAYMENTS1",
            "message_ts": "1767225500.000200",
        },
    )
    assert rows[1][2] == "D-7" and rows[1][4]["value"] == "REL-42"

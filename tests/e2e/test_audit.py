"""``/release audit`` and ``/release audit export`` through the real app, against the recording fake Slack."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

from sqlalchemy import select

from core import audit
from core.model import Actor, Role
from storage.rows import AuditRow
from tests.e2e.conftest import ADMIN, DEV, Bot

ANNA = "U0ANNA0005"  # made an analyst below
DAVE = "U0DAVE0004"  # nobody configured him: a viewer


async def entries(bot: Bot) -> list[dict[str, Any]]:
    columns = list(AuditRow.__table__.columns)
    async with bot.runtime.uow() as work:
        found = await work.session.execute(select(*columns).order_by(AuditRow.id))
        return [dict(row._mapping) for row in found]


async def deployed_to_production(bot: Bot) -> None:
    """bob creates v1 and asks for production, which needs one approval; alice approves it."""
    await bot.say(f"user <@{ANNA}|anna> role analyst")
    assert (await bot.say("policy production approvals 1 by admin")).startswith("*production*: ")
    await bot.say("create payments-api v1 notes <!channel> & friends", user_id=DEV)
    await bot.say("deploy payments-api v1 to staging", user_id=DEV)
    await bot.say("deploy payments-api v1 to production", user_id=DEV)
    await bot.say("approve D-2")
    await bot.settle()


async def test_audit_lists_the_newest_entries_first_with_time_actor_action_target_and_details(configured: Bot) -> None:
    bot = configured
    await deployed_to_production(bot)
    stored = await entries(bot)
    text = await bot.say("audit limit 3", user_id=ANNA)
    heading, *lines = text.split("\n")
    assert heading == "*Audit log*: the 3 newest entries"
    assert [line.split(" ")[0] for line in lines] == [f"`A-{e['id']}`" for e in reversed(stored[-3:])]
    newest = stored[-1]
    assert lines[0].startswith(f"`A-{newest['id']}` <!date^{int(newest['at'].timestamp())}^")
    assert f"<@{ADMIN}> *{newest['action']}* {newest['target']}" in lines[0]


async def test_audit_filters_by_service_user_action_and_since(configured: Bot) -> None:
    bot = configured
    await deployed_to_production(bot)
    text = await bot.say(f"audit service payments-api user <@{DEV}|bob> action deployment since 1d", user_id=ANNA)
    heading, *lines = text.split("\n")
    assert heading.startswith(f"*Audit log*: the {len(lines)} newest entries (service payments-api, by <@{DEV}>, ")
    assert "action `deployment…`, since " in heading
    assert len(lines) >= 3
    assert all(f"<@{DEV}> *deployment." in line for line in lines)
    assert any("D-2: service=payments-api, version=v1, environment=production" in line for line in lines)
    release = await bot.say("audit action release", user_id=ANNA)
    assert "*release.create* R-1: service=payments-api, version=v1, notes=&lt;!channel&gt; &amp; friends" in release
    assert "<!channel>" not in release
    none = await bot.say("audit since 2099-01-01", user_id=ANNA)
    assert none == "No audit entries match (since 2099-01-01 00:00 UTC)."


async def test_a_full_listing_stays_within_one_message(configured: Bot) -> None:
    bot = configured
    actor = Actor(user_id=DEV, role=Role.DEVELOPER)
    async with bot.runtime.uow() as work:
        for n in range(60):  # long, escape-heavy details: each line is as long as a line gets
            details = {"notes": "<&>" * 100, "n": n}
            now = bot.runtime.clock()
            await audit.record(
                work, actor=actor, action="release.note", target=f"R-{n}", now=now, request_id=None, details=details
            )
        await work.commit()
    _, answer = await bot.command("audit limit 50")
    assert answer is not None
    assert answer["text"].startswith("*Audit log*: the 50 newest entries")
    assert len(answer["blocks"]) < 50
    shown = "\n".join(b["text"]["text"] for b in answer["blocks"] if b["type"] == "section")
    assert shown.count("*release.note*") == 50 and "<&>" not in shown
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in answer["blocks"])
    assert await bot.say("audit limit 51") == (
        "`51` is not a limit: give a whole number from 1 to 50; `/release audit export` sends more as a CSV file.\n"
        "Usage: `/release audit [export] [service <service>] [user <@user>] [action <action>] "
        "[since <YYYY-MM-DD|7d>] [limit <n>]`"
    )


async def test_export_uploads_a_csv_to_the_requesters_dm_that_matches_the_log(configured: Bot) -> None:
    bot = configured
    await deployed_to_production(bot)
    answer = await bot.say("audit export service payments-api", user_id=ANNA)
    stored = await entries(bot)
    exported = [e for e in stored if e["action"] == "audit.export"]
    assert len(exported) == 1
    (upload,) = bot.fake.calls_to("upload_url")
    content: bytes = upload.args["content"]
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert answer == f"Exported {len(rows)} entries; the CSV is in your DMs."
    by_id = {e["id"]: e for e in stored}
    about = [e for e in stored if e["id"] in {int(r["id"]) for r in rows}]
    assert [int(r["id"]) for r in rows] == [e["id"] for e in about]
    for row in rows:
        entry = by_id[int(row["id"])]
        assert row["at"] == entry["at"].isoformat().replace("+00:00", "Z")
        assert (row["actor"], row["action"], row["target"], row["source"]) == (
            entry["actor"],
            entry["action"],
            entry["target"] or "",
            entry["source"],
        )
        assert (row["request_id"], row["hash"], row["prev_hash"]) == (
            entry["request_id"] or "",
            entry["hash"],
            entry["prev_hash"] or "",
        )
        assert json.loads(row["details"]) == entry["details"]
    production = [r for r in rows if r["target"] == "D-2"]
    assert {r["action"] for r in production} >= {"deployment.request", "deployment.approve"}
    assert {(r["requester"], r["approvers"], r["bypasses"]) for r in production} == {(DEV, ADMIN, "[]")}
    assert all(r["requester"] == "" for r in rows if not r["target"].startswith("D-"))
    assert exported[0]["actor"] == ANNA
    assert exported[0]["details"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert exported[0]["details"]["entries"] == len(rows)
    (complete,) = bot.fake.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == "D" + ANNA[1:]
    assert complete.args["files"] == [{"id": upload.args["file_id"], "title": "releasebot audit log export"}]
    assert f"{len(rows)} entries" in complete.args["initial_comment"]


async def test_viewers_and_developers_are_refused_the_audit_log_and_the_refusal_is_audited(configured: Bot) -> None:
    bot = configured
    assert await bot.say("audit", user_id=DAVE) == (
        "You can't read the audit log: your role is viewer.\n"
        "Only admins, analysts may do that; ask an admin (`/release user @you role <role>`) if you need it."
    )
    export = await bot.say("audit export since 7d", user_id=DEV)
    assert export.startswith("You can't export the audit log: your role is developer.")
    assert bot.fake.calls_to("files.getUploadURLExternal") == []
    denied = [e for e in await entries(bot) if e["action"] == "permission.denied"]
    assert [(e["actor"], e["details"]["request"]) for e in denied] == [(DAVE, "audit"), (DEV, "audit export since 7d")]


async def test_an_export_slack_refuses_is_explained_and_audited(configured: Bot) -> None:
    bot = configured
    bot.fake.fail_next("files.completeUploadExternal", error="invalid_channel")
    answer = await bot.say("audit export")
    assert answer.startswith("I couldn't send the CSV to your DMs")
    actions = [e["action"] for e in await entries(bot)]
    assert actions[-2:] == ["audit.export", "audit.export_failed"]

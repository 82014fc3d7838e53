"""The offline console presses buttons where a person sees them: on channel messages as they are now, and on the
replies only that person sees, such as the Confirm of a dry run."""

from __future__ import annotations

import io

from sqlalchemy import select

from bot.console import run_shell
from bot.settings import load_settings
from storage.engine import create_engine
from storage.rows import ApprovalRow, DeploymentRow

SETUP = """\
/release policy production approvals 1 by developer admin
as bob
/release create payments-api v1 commit abc1234
/release create payments-api v2 commit def5678
"""


async def shell(database_url: str, script: str) -> str:
    out = io.StringIO()
    settings = load_settings(_env_file=None, database_url=database_url, admins="U0ALICE001")
    assert await run_shell(settings, as_user="alice", demo=True, out=out, lines=io.StringIO(SETUP + script)) == 0
    return out.getvalue()


def after(text: str, prompt: str) -> str:
    """What the console printed after the line ``prompt`` until the next prompt."""
    start = text.index(prompt + "\n") + len(prompt) + 1
    following = [text.find(f"\n{name}> ", start) for name in ("alice", "bob", "carol", "dave")]
    ends = [index for index in following if index >= 0]
    return text[start : min(ends) if ends else len(text)].rstrip()


async def stored(database_url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            columns = (DeploymentRow.id, DeploymentRow.status, DeploymentRow.requested_by)
            deployments = (await connection.execute(select(*columns).order_by(DeploymentRow.id))).all()
            approvals = (await connection.execute(select(ApprovalRow.deployment_id, ApprovalRow.approver))).all()
    finally:
        await engine.dispose()
    return [tuple(row) for row in deployments], [tuple(row) for row in approvals]


async def test_click_confirm_after_a_dry_run_requests_the_deployment_once(database_url: str) -> None:
    text = await shell(
        database_url,
        "/release deploy payments-api v2 to production --dry-run\n"
        "click confirm\n"
        "click confirm\n"
        "as carol\n"
        "click approve D-1\n"
        "click approve D-1\n",
    )
    preview = after(text, "bob> /release deploy payments-api v2 to production --dry-run")
    assert preview.startswith("(only you) releasebot:\n    *Dry run*: *payments-api* `v2` to *production*.")
    assert preview.endswith(
        ":white_check_mark: Allowed: it would wait for approval, then deploy.\n      [Confirm: click deploy_confirm]"
    )
    confirmed, again = text.split("bob> click confirm\n")[1:]
    assert confirmed.startswith(
        "(only you, updated) releasebot:\n"
        "    :hourglass_flowing_sand: D-1: *payments-api* `v2` to *production* (first deployment there): pending "
        "approval. Posted in #payments-releases.\n"
        "#payments-releases releasebot:\n"
        "    :hourglass_flowing_sand: *D-1* payments-api `v2` → *production*: waiting for approval\n"
    )
    # The preview was replaced by the answer: its button is gone, so a second click finds nothing to press.
    assert again.startswith(
        "No button `confirm` in the messages you can see. Buttons you can press now: "
        "`click deployment_approve D-1`, `click deployment_reject D-1`.\n"
    )
    assert after(text, "carol> click approve D-1").startswith(
        "(only you) releasebot:\n    You approved D-1 (payments-api `v2` → production); it is now deployed.\n"
    )
    # The card lost its buttons when it was decided: the console presses what Slack shows, not older versions.
    assert text.rstrip().endswith("carol> click approve D-1\nNo button `approve` for D-1 in the messages you can see.")
    assert await stored(database_url) == ([(1, "success", "U0BOB00002")], [(1, "U0CAROL003")])


async def test_a_reference_picks_one_of_several_previews_and_others_cannot_press_them(database_url: str) -> None:
    text = await shell(
        database_url,
        "/release deploy payments-api v1 to staging --dry-run\n"
        "/release deploy payments-api v2 to production --dry-run\n"
        "as carol\n"
        "click confirm\n"
        "as bob\n"
        "click confirm v9\n"
        "click confirm staging\n",
    )
    assert after(text, "carol> click confirm") == "No button `confirm` in the messages you can see."
    assert after(text, "bob> click confirm v9") == (
        "No button `confirm` for v9 in the messages you can see. Buttons you can press now: `click deploy_confirm`."
    )
    assert after(text, "bob> click confirm staging").startswith(
        "(only you, updated) releasebot:\n"
        "    :white_check_mark: D-1: *payments-api* `v1` to *staging* (first deployment there): success. "
        "Posted in #payments-releases.\n"
    )
    assert await stored(database_url) == ([(1, "success", "U0BOB00002")], [])


async def test_click_without_a_button_explains_how_to_press_one(database_url: str) -> None:
    text = await shell(database_url, "click\nclick approve D-1 now\nclick approve\n")
    usage = (
        "Usage: click <button> [<reference>], for example `click approve D-42`; without a reference, the newest "
        "such button (`click confirm` after a `--dry-run`)."
    )
    assert after(text, "bob> click") == usage
    assert after(text, "bob> click approve D-1 now") == usage
    assert after(text, "bob> click approve") == "No button `approve` in the messages you can see."

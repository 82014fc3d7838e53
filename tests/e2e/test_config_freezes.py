"""A recurring freeze from the configuration file refuses deployments through signed /release commands."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.config_file import load_config
from core.config_apply import apply_configuration
from core.model import Actor, Role, Source
from core.text import clock_time
from storage.rows import DeploymentRow
from tests.e2e.conftest import ADMIN, DEV, Bot


async def test_a_deployment_during_a_configured_recurring_freeze_is_refused_with_its_reason_and_end(
    configured: Bot, tmp_path: Path
) -> None:
    bot = configured
    now = bot.runtime.clock()
    fired = (now - timedelta(minutes=10)).replace(second=0, microsecond=0)  # every day at this minute, for 1h
    path = tmp_path / "releasebot.yml"
    path.write_text(
        "environments:\n"
        "  - name: staging\n    order: 1\n"
        "  - name: production\n    order: 2\n    production: true\n    freezes:\n"
        f'      - {{cron: "{fired.minute} {fired.hour} * * *", duration: 1h, reason: "quarter close <!here>"}}\n',
        encoding="utf-8",
    )
    admin = Actor(user_id=ADMIN, role=Role.ADMIN, source=Source.CLI)
    async with bot.runtime.uow() as uow:
        report = await apply_configuration(
            uow, actor=admin, declaration=load_config(path, environ={}), now=now, request_id="config-apply-e2e"
        )
        await uow.commit()
    assert report.created["freeze"] == [f"production: {fired.minute} {fired.hour} * * *"]
    await bot.say("create payments-api v1", user_id=DEV)

    answer = await bot.say("deploy payments-api v1 to production", user_id=DEV)

    ends = clock_time(fired + timedelta(hours=1), fired)
    assert answer == (
        f"production is frozen until {ends}: quarter close &lt;!here&gt;.\n"
        "Wait for the freeze to end, or an admin may override it with `--override-freeze <reason>` "
        "(a second admin must approve)."
    )
    async with bot.runtime.uow() as work:
        assert (await work.session.execute(select(func.count(DeploymentRow.id)))).scalar_one() == 0

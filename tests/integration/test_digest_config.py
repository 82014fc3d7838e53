"""``digest: true`` on a service in the configuration file: stored, kept by ``/release service add``, and the
service's channel gets the service's digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config_file import ConfigFileError, load_config
from core import configuration
from core.config_apply import apply_configuration
from core.digests import DigestTarget, digest_targets
from core.dora import Scope, ScopeKind
from tests.integration.conftest import ADMIN, FrozenClock
from tests.integration.test_digest import Uow

CONFIG = """
teams:
  - {name: payments, channel: "C0PAYMENTS1", timezone: Europe/Paris, digest: {day: tue, time: "08:30"}}
  - {name: search}
services:
  - {name: payments-api, team: payments, channel: "C0PAYAPI001", digest: true}
  - {name: ledger, team: payments, channel: "C0LEDGER001"}
  - {name: search-api, team: search, channel: "C0SEARCH001", digest: true}
"""


async def _apply(uow: Uow, clock: FrozenClock, tmp_path: Path, text: str) -> str:
    path = tmp_path / "releasebot.yml"
    path.write_text(text, encoding="utf-8")
    async with uow() as work:
        report = await apply_configuration(
            work, actor=ADMIN, declaration=load_config(path), now=clock(), request_id="config"
        )
        await work.commit()
    return report.summary()


async def _targets(uow: Uow) -> dict[str, list[DigestTarget]]:
    async with uow() as work:
        return {team.name: await digest_targets(work, team) for team in await work.teams.list()}


async def test_a_service_with_digest_true_gets_its_own_digest_in_its_channel(
    uow: Uow, clock: FrozenClock, tmp_path: Path
) -> None:
    await _apply(uow, clock, tmp_path, CONFIG)

    assert await _targets(uow) == {
        "payments": [
            DigestTarget(Scope(ScopeKind.TEAM, "payments"), "C0PAYMENTS1"),
            DigestTarget(Scope(ScopeKind.SERVICE, "payments-api"), "C0PAYAPI001"),
        ],
        "search": [DigestTarget(Scope(ScopeKind.SERVICE, "search-api"), "C0SEARCH001")],
    }
    async with uow() as work:
        team = await work.teams.get("payments")
    assert team is not None and (team.digest_day, team.digest_time, team.timezone) == ("tue", "08:30", "Europe/Paris")


async def test_the_service_command_keeps_the_digest_setting_and_the_file_is_the_truth(
    uow: Uow, clock: FrozenClock, tmp_path: Path
) -> None:
    await _apply(uow, clock, tmp_path, CONFIG)
    async with uow() as work:
        await configuration.add_service(
            work,
            actor=ADMIN,
            name="payments-api",
            team="payments",
            channel="C0PAYNEW001",
            repo=None,
            now=clock(),
            request_id="cmd",
        )
        await work.commit()
        kept = await work.services.get("payments-api")

    assert kept is not None and (kept.slack_channel, kept.digest) == ("C0PAYNEW001", True)
    summary = await _apply(uow, clock, tmp_path, CONFIG.replace(", digest: true}", "}"))
    assert summary == "2 services updated, 3 unchanged"
    async with uow() as work:
        assert [s.digest for s in await work.services.list()] == [False, False, False]


def test_a_digest_flag_that_is_not_true_or_false_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "releasebot.yml"
    path.write_text(CONFIG.replace("digest: true}", 'digest: "yes"}', 1), encoding="utf-8")

    with pytest.raises(ConfigFileError) as caught:
        load_config(path)

    assert caught.value.problems == ["services[0].digest: must be true or false (got 'yes')"]

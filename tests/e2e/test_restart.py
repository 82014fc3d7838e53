"""A crash between stages followed by a restart (a separate process killed with SIGKILL, then started again)
with reconciliation.

The first bot runs in a process of its own (``tests.support.bot_process``) and is killed with SIGKILL while
D-1's second stage runs; a second bot then starts on the same database and its watchdog reconciles.

What happens to the killed bot's stage command: the command executor starts every command in a session of
its own (so a timeout or a cancellation can stop the command's whole process group without touching the
bot), so killing the bot's process group does not reach it. It is re-parented and keeps running until it
ends by itself (or next writes output, which nobody reads any more: most programs then die of SIGPIPE).
The bot that reconciles may run on another machine and cannot stop it: the stage fails as interrupted by
the restart, and whatever the command did before or after stays done; someone who knows the host must
check it. The test checks that the orphan outlived the kill, then stops it itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import ClientSession

from bot.fakeslack import Call, FakeSlack
from core.durations import format_duration
from core.model import Deployment, DeploymentStatus, Stage, StageSpec, StageStatus
from handlers import jobs
from tests.e2e.conftest import DEV, Bot, start_bot
from tests.support.bot_process import CHANNEL, READY, STAGE_SCRIPT
from tests.support.ci_fake import CiFake

ROOT = Path(__file__).resolve().parents[2]
CI_SECRET = "ci-secret-staging"
START_TIMEOUT_S = 60.0
GONE_TIMEOUT_S = 10.0
WEBHOOK_TIMEOUT_S = 1800
TIMED_OUT = f"timed out after {format_duration(WEBHOOK_TIMEOUT_S)}"  # as the watchdog words it


class BotProcess:
    """The first bot: started, waited for, killed; whatever it leaves behind is stopped at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.pid_file = tmp_path / "stage.pid"
        self.log = tmp_path / "bot-process.log"
        self.process: asyncio.subprocess.Process | None = None
        self.orphans: list[int] = []

    async def start(self, database_url: str, fake: FakeSlack, *extra: str) -> None:
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.bot_process",
                "--database-url",
                database_url,
                "--slack-url",
                fake.base_url,
                "--heartbeat-s",
                "0.5",
                "--pid-file",
                str(self.pid_file),
                *extra,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                cwd=ROOT,
                start_new_session=True,  # its own process group, killed as a whole
            )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the bot process did not get ready; its log:\n{self.log.read_text()}"
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            except TimeoutError:
                continue
            assert line, f"the bot process ended before its stage ran; its log:\n{self.log.read_text()}"
            if line.decode().strip() == f"{READY} D-1":
                return

    def kill(self) -> None:
        """SIGKILL to the bot's whole process group: no clean-up code of the bot runs."""
        assert self.process is not None
        if self.pid_file.exists():
            self.orphans = [int(pid) for pid in self.pid_file.read_text().split()]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    async def wait_killed(self) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), GONE_TIMEOUT_S)

    def clean_up(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        for pid in self.orphans:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # the command leads its own group (a session of its own)


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for whoever inherited it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def until_gone(pid: int) -> None:
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        await asyncio.sleep(0.05)


@pytest.fixture
def first_bot(tmp_path: Path) -> Iterator[BotProcess]:
    process = BotProcess(tmp_path)
    try:
        yield process
    finally:
        process.clean_up()


@pytest.fixture
async def ci() -> AsyncIterator[CiFake]:
    async with CiFake(CI_SECRET) as fake:
        yield fake


@contextlib.asynccontextmanager
async def second_bot(database_url: str, fake: FakeSlack) -> AsyncIterator[Bot]:
    """A bot started afresh on the database the killed one used."""
    runtime, server = await start_bot(database_url, fake)
    try:
        async with ClientSession() as http:
            yield Bot(runtime, server, http, fake)
    finally:
        await server.close()
        await runtime.stop()


async def deploy_stage(bot: Bot) -> tuple[Deployment, Stage]:
    """D-1 and its second stage, deploy, as stored."""
    async with bot.runtime.uow() as uow:
        deployment = await uow.deployments.get(1)
        stages = await uow.stages.for_deployment(1)
    assert deployment is not None
    return deployment, stages[1]


async def until_heartbeat_older_than(bot: Bot, seconds: float) -> None:
    """The killed runner's last beat is over ``seconds`` old (bounded: it beat every 0.5 s until the kill)."""
    _, stage = await deploy_stage(bot)
    assert stage.heartbeat_at is not None
    wait = (stage.heartbeat_at + timedelta(seconds=seconds)) - bot.runtime.clock()
    assert wait < timedelta(seconds=10)
    if wait > timedelta(0):
        await asyncio.sleep(wait.total_seconds() + 0.1)


def card_text(call: Call) -> str:
    return json.dumps(call.args.get("blocks"))


async def test_a_stage_interrupted_by_a_killed_bot_fails_after_the_restart_and_frees_the_environment(
    database_url: str, fake: FakeSlack, first_bot: BotProcess
) -> None:
    await first_bot.start(database_url, fake, "--long-stage", "command", "--sleep", "60")
    (first_post,) = [
        c for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL and not c.args.get("thread_ts")
    ]
    first_bot.kill()
    assert await first_bot.wait_killed() == -signal.SIGKILL
    (stage_pid,) = first_bot.orphans
    assert alive(stage_pid), "the stage command lives in a session of its own: killing the bot leaves it running"
    os.killpg(stage_pid, signal.SIGKILL)
    await until_gone(stage_pid)

    async with second_bot(database_url, fake) as bot:
        deployment, stage = await deploy_stage(bot)
        assert (deployment.status, stage.status) == (DeploymentStatus.RUNNING, StageStatus.RUNNING)
        await bot.say("create payments-api v3", user_id=DEV)
        refused = await bot.say("deploy payments-api v3 to staging", user_id=DEV)
        assert "already has an active deployment to staging: D-1" in refused

        assert await jobs.watchdog(bot.runtime.deps) == 0  # within the default staleness: nothing is reaped
        await until_heartbeat_older_than(bot, 1.0)
        assert await jobs.watchdog(replace(bot.runtime.deps, stale_runner_s=1)) == 1
        assert await jobs.watchdog(replace(bot.runtime.deps, stale_runner_s=1)) == 0  # once only

        async with bot.runtime.uow() as uow:
            failed = await uow.deployments.get(1)
            stages = await uow.stages.for_deployment(1)
        assert failed is not None and failed.status is DeploymentStatus.FAILED
        assert failed.status_reason == "deploy: interrupted by restart"
        assert [(s.name, s.status, s.reason) for s in stages] == [
            ("prepare", StageStatus.SUCCESS, None),
            ("deploy", StageStatus.FAILED, "interrupted by restart"),
        ]

        def failed_card(call: Call) -> bool:
            text = card_text(call)
            return "*D-1*" in text and ": failed" in text and "interrupted by restart" in text

        (update,) = await bot.fake.wait_for("chat.update", failed_card, timeout=10)
        assert (update.args["channel"], update.args["ts"]) == (CHANNEL, first_post.response["ts"])
        (dm,) = await bot.fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == DEV, timeout=10)
        assert dm.args["text"].startswith("Your deployment D-1 of payments-api `v2` to *staging*: failed.")
        assert "interrupted by restart" in dm.args["text"]

        # The environment is free again: a new deployment starts and runs (on quick stages only, this time).
        async with bot.runtime.uow() as uow:
            staging = await uow.environments.get("staging")
            assert staging is not None
            quick = StageSpec("prepare", "command", command=[sys.executable, str(STAGE_SCRIPT), "--lines", "1"])
            await uow.environments.upsert(replace(staging, stages=[quick]), now=bot.runtime.clock())
            await uow.commit()
        answer = await bot.say("deploy payments-api v3 to staging", user_id=DEV)
        assert answer.startswith(":arrows_counterclockwise: D-2"), answer
        await bot.fake.wait_for(
            "chat.update", lambda c: "*D-2*" in card_text(c) and ": deployed" in card_text(c), timeout=20
        )


async def test_a_webhook_stage_outlives_the_restart_until_its_own_deadline(
    database_url: str, fake: FakeSlack, first_bot: BotProcess, ci: CiFake
) -> None:
    await first_bot.start(
        database_url,
        fake,
        "--long-stage",
        "webhook",
        "--ci-url",
        ci.url,
        "--ci-secret",
        CI_SECRET,
        "--timeout-s",
        str(WEBHOOK_TIMEOUT_S),
    )
    await ci.wait_for(lambda r: r.payload.get("stage") == "deploy")
    first_bot.kill()
    await first_bot.wait_killed()

    async with second_bot(database_url, fake) as bot:
        await until_heartbeat_older_than(bot, 1.0)
        stale = replace(bot.runtime.deps, stale_runner_s=1)
        assert await jobs.watchdog(stale) == 0  # CI still has it: no runner needs to be alive for it
        deployment, stage = await deploy_stage(bot)
        assert stage.executor == "webhook"
        assert (deployment.status, stage.status) == (DeploymentStatus.RUNNING, StageStatus.RUNNING)

        deadline = stage.deadline_at
        assert deadline is not None
        just_before = deadline - timedelta(seconds=1)
        assert await jobs.watchdog(replace(stale, clock=lambda: just_before)) == 0
        past = deadline + timedelta(seconds=1)
        assert await jobs.watchdog(replace(stale, clock=lambda: past)) == 1

        deployment, stage = await deploy_stage(bot)
        assert deployment.status is DeploymentStatus.FAILED
        assert deployment.status_reason == f"deploy: {TIMED_OUT}"
        assert (stage.status, stage.reason) == (StageStatus.FAILED, TIMED_OUT)
        await bot.fake.wait_for(
            "chat.update",
            lambda c: "*D-1*" in card_text(c) and ": failed" in card_text(c) and TIMED_OUT in card_text(c),
            timeout=10,
        )

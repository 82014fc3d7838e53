"""A bot in a process of its own, for tests that kill it and start another one on the same database::

    python -m tests.support.bot_process --database-url URL --slack-url URL [--heartbeat-s 0.5]
        [--long-stage command|webhook] [--sleep 60] [--pid-file PATH] [--ci-url URL --ci-secret S]

It starts the real ``Runtime`` (delivery and the pipeline runner, heart-beating every ``--heartbeat-s``)
against the fake Slack at ``--slack-url``, migrates the database, declares team payments, service
payments-api (channel C0PAYMENTS1), developer U0BOB00002 and environment staging with two stages: *prepare*
(a quick command) then *deploy* (a command sleeping ``--sleep`` seconds that writes its pid to
``--pid-file``, or a webhook stage handed to the CI at ``--ci-url``). Then it requests D-1, payments-api v2
to staging, as the developer. Once *deploy* runs (and its command has started) and every Slack message so
far has been delivered, it prints ``STAGE-RUNNING D-1`` and keeps running until it is killed, or exits by
itself after ``--max-run-s`` so a test that failed to kill it leaves nothing behind for long.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from bot.logging import configure_logging
from bot.runtime import Runtime
from bot.settings import load_settings
from core import configuration
from core.deployments import request_deployment
from core.model import Actor, Role, Source, StageSpec, StageStatus
from core.releases import create_release
from storage.rows import OutboxRow

READY = "STAGE-RUNNING"
ADMIN = Actor(user_id="U0ALICE001", role=Role.ADMIN, source=Source.SLACK)
DEVELOPER = Actor(user_id="U0BOB00002", role=Role.DEVELOPER, source=Source.SLACK)
CHANNEL = "C0PAYMENTS1"
STAGE_SCRIPT = Path(__file__).resolve().parent / "stage_script.py"
POLL_S = 0.05
READY_TIMEOUT_S = 30.0


def stages(args: argparse.Namespace) -> list[StageSpec]:
    quick = StageSpec("prepare", "command", command=[sys.executable, str(STAGE_SCRIPT), "--lines", "1"])
    if args.long_stage == "webhook":
        long = StageSpec("deploy", "webhook", url=args.ci_url, timeout_s=args.timeout_s)
    else:
        command = [sys.executable, str(STAGE_SCRIPT), "--lines", "1", "--sleep", str(args.sleep)]
        if args.pid_file:
            command += ["--pid-file", args.pid_file]
        long = StageSpec("deploy", "command", command=command, timeout_s=args.timeout_s)
    return [quick, long]


async def declare(runtime: Runtime, args: argparse.Namespace) -> None:
    """The workspace and the deployment, through the same use cases the slash commands call."""
    now = runtime.clock()
    async with runtime.uow() as uow:
        await configuration.add_team(
            uow, name="payments", channel=CHANNEL, timezone="UTC", actor=ADMIN, now=now, request_id=None
        )
        await configuration.add_service(
            uow, name="payments-api", team="payments", channel=CHANNEL, repo=None, actor=ADMIN, now=now, request_id=None
        )
        await configuration.add_environment(
            uow, name="staging", production=False, order=1, actor=ADMIN, now=now, request_id=None
        )
        await configuration.set_user_role(
            uow, user_id=DEVELOPER.user_id, role=Role.DEVELOPER, actor=ADMIN, now=now, request_id=None
        )
        staging = await uow.environments.get("staging")
        assert staging is not None
        await uow.environments.upsert(
            replace(staging, stages=stages(args), webhook_secret=args.ci_secret), now=runtime.clock()
        )
        await uow.commit()
    async with runtime.uow() as uow:
        now = runtime.clock()
        await create_release(
            uow,
            actor=DEVELOPER,
            service="payments-api",
            version="v2",
            commit=None,
            notes=None,
            now=now,
            request_id=None,
        )
        await request_deployment(
            uow, actor=DEVELOPER, service="payments-api", version="v2", environment="staging", now=now, request_id=None
        )
        await uow.commit()
    runtime.deps.wake_pipeline()
    runtime.deps.wake_delivery()


async def long_stage_running(runtime: Runtime, pid_file: str | None) -> bool:
    """D-1's second stage runs, its command (if any) has started, and no message waits to be delivered."""
    async with runtime.uow() as uow:
        found = await uow.stages.for_deployment(1)
    async with runtime.engine.connect() as connection:
        pending = await connection.execute(select(func.count(OutboxRow.id)).where(OutboxRow.status == "pending"))
        undelivered = pending.scalar_one()
    if len(found) < 2 or found[1].status is not StageStatus.RUNNING or undelivered:
        return False
    return pid_file is None or started(pid_file)


def started(pid_file: str) -> bool:
    return Path(pid_file).exists()


async def main(args: argparse.Namespace) -> int:
    configure_logging("WARNING", "text")  # to stderr: standard output carries only the READY line
    settings = load_settings(
        _env_file=None,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret="test-signing-secret-do-not-use",
        slack_api_base_url=args.slack_url,
        database_url=args.database_url,
        admins=ADMIN.user_id,
    )
    runtime = Runtime(settings, pace_s=0.0, poll_s=0.2, migrate=True)
    await runtime.start(run_pipeline=False)
    runtime.pipeline.heartbeat_s = args.heartbeat_s
    pipeline = asyncio.get_running_loop().create_task(runtime.pipeline.run())
    try:
        await declare(runtime, args)
        deadline = time.monotonic() + READY_TIMEOUT_S
        pid_file = args.pid_file if args.long_stage == "command" else None
        while not await long_stage_running(runtime, pid_file):
            if time.monotonic() > deadline or pipeline.done():
                print("NOT-READY D-1", flush=True)
                return 1
            await asyncio.sleep(POLL_S)
        print(f"{READY} D-1", flush=True)
        await asyncio.sleep(args.max_run_s)  # until killed
        return 0
    finally:
        await runtime.pipeline.stop(timeout=1)
        pipeline.cancel()
        await runtime.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.support.bot_process", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--slack-url", required=True, help="the fake Slack Web API (FakeSlack.base_url)")
    parser.add_argument("--heartbeat-s", type=float, default=0.5, help="how often the runner beats")
    parser.add_argument("--long-stage", choices=("command", "webhook"), default="command")
    parser.add_argument("--sleep", type=float, default=60.0, help="how long the command stage sleeps")
    parser.add_argument("--timeout-s", type=int, default=1800, help="the deploy stage's timeout")
    parser.add_argument("--pid-file", help="where the command stage writes its pid")
    parser.add_argument("--ci-url", help="the CI the webhook stage is handed to")
    parser.add_argument("--ci-secret", help="the environment's webhook secret")
    parser.add_argument("--max-run-s", type=float, default=120.0, help="exit by itself after this long")
    args = parser.parse_args(argv)
    if args.long_stage == "webhook" and not args.ci_url:
        parser.error("--long-stage webhook needs --ci-url")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))

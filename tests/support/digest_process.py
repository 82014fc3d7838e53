"""One replica's digest job in a process of its own, for the test that two processes send a week's digest once::

    python -m tests.support.digest_process DATABASE_URL NOW_ISO GRACE_SECONDS

It waits for a line on standard input (so two processes can be started, then released together), runs the
digest job for every team due at NOW and prints how many digests it queued.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta

from handlers.deps import Deps
from handlers.digest import send_due_digests
from storage.engine import create_engine, session_factory
from storage.uow import unit_of_work_factory


async def main(database_url: str, now: datetime, grace: timedelta) -> int:
    engine = create_engine(database_url)
    try:
        uow = unit_of_work_factory(session_factory(engine), lambda: now)
        async with uow() as work:  # connected and ready before the start signal
            await work.teams.list()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        return await send_due_digests(Deps(uow=uow, clock=lambda: now), grace=grace, now=now)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    url, when, grace_s = sys.argv[1:4]
    print(asyncio.run(main(url, datetime.fromisoformat(when), timedelta(seconds=float(grace_s)))), flush=True)

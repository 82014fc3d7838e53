"""The command executor against a real small script (tests/support/stage_script.py)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.executors.command import CommandExecutor, stage_environment
from bot.executors.output import OutputCapture
from core.execution import MAX_STORED_OUTPUT, StageRun
from core.model import StageSpec, StageStatus

SCRIPT = str(Path(__file__).resolve().parents[1] / "support" / "stage_script.py")


def stage(*flags: str, timeout_s: int = 60, command: list[str] | None = None) -> StageRun:
    argv = command if command is not None else [sys.executable, SCRIPT, *flags]
    return StageRun(
        deployment_id=42,
        reference="D-42",
        service="payments-api",
        version="v1.4.2",
        commit="abc1234",
        environment="staging",
        position=0,
        spec=StageSpec(name="build", executor="command", command=argv, timeout_s=timeout_s),
    )


def alive(pid: int) -> bool:
    """Running, not a zombie left for init to reap."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


async def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while alive(pid):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def read_pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def pids_from(path: Path, count: int = 1) -> list[int]:
    for _ in range(200):
        pids = read_pids(path)
        if len(pids) >= count:
            return pids
        await asyncio.sleep(0.05)
    raise AssertionError("the script never wrote its pid")


async def test_a_command_that_exits_zero_succeeds_with_its_output() -> None:
    result = await CommandExecutor().run(stage("--lines", "3"), asyncio.Event())
    assert result.status is StageStatus.SUCCESS
    assert result.exit_code == 0 and result.reason is None
    assert result.output == "line 1\nline 2\nline 3\n"


async def test_a_nonzero_exit_code_fails_the_stage_and_says_so() -> None:
    result = await CommandExecutor().run(stage("--lines", "1", "--exit", "3"), asyncio.Event())
    assert result.status is StageStatus.FAILED
    assert result.exit_code == 3 and result.reason == "exit code 3"
    assert result.output == "line 1\n"


async def test_stderr_is_merged_into_the_output() -> None:
    command = [sys.executable, "-c", "import sys; print('out', flush=True); print('err', file=sys.stderr)"]
    result = await CommandExecutor().run(stage(command=command), asyncio.Event())
    assert result.output.split() == ["out", "err"]


async def test_the_command_sees_only_a_minimal_environment_and_the_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELEASEBOT_DATABASE_URL", "postgresql://secret@db/releasebot")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    result = await CommandExecutor().run(stage("--env"), asyncio.Event())
    seen = dict(line.split("=", 1) for line in result.output.splitlines())
    releasebot = {k: v for k, v in seen.items() if k.startswith("RELEASEBOT_")}
    assert releasebot == {
        "RELEASEBOT_SERVICE": "payments-api",
        "RELEASEBOT_VERSION": "v1.4.2",
        "RELEASEBOT_COMMIT": "abc1234",
        "RELEASEBOT_ENVIRONMENT": "staging",
        "RELEASEBOT_DEPLOYMENT": "D-42",
        "RELEASEBOT_STAGE": "build",
    }
    assert "SLACK_BOT_TOKEN" not in seen
    assert seen["LANG"] == "C.UTF-8" and seen["PATH"] == os.environ["PATH"]


def test_the_environment_has_a_path_even_when_the_bot_has_none() -> None:
    env = stage_environment(stage(), base={"HOME": "/home/bot", "SECRET": "x"})
    assert env["PATH"] and env["HOME"] == "/home/bot" and "SECRET" not in env


async def test_arguments_reach_the_command_as_they_are_without_a_shell() -> None:
    command = [sys.executable, "-c", "import sys; print(sys.argv[1:])", "$(id)", "; rm -rf /", "`x` | y"]
    result = await CommandExecutor().run(stage(command=command), asyncio.Event())
    assert result.output.strip() == "['$(id)', '; rm -rf /', '`x` | y']"


async def test_stdin_is_closed() -> None:
    command = [sys.executable, "-c", "import sys; print(repr(sys.stdin.read()))"]
    result = await CommandExecutor().run(stage(command=command), asyncio.Event())
    assert result.status is StageStatus.SUCCESS and result.output.strip() == "''"


async def test_a_command_past_its_timeout_fails_and_its_processes_are_gone(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    run = stage("--lines", "1", "--sleep", "60", "--child", "--pid-file", str(pid_file), timeout_s=1)
    result = await CommandExecutor().run(run, asyncio.Event())
    assert result.status is StageStatus.FAILED
    assert result.reason == "timed out after 1s"
    assert result.output == "line 1\n"
    for pid in await pids_from(pid_file, 2):
        assert await gone(pid)


def test_a_ten_minute_timeout_reads_10m() -> None:
    from core.durations import format_duration

    assert f"timed out after {format_duration(600)}" == "timed out after 10m"


async def test_cancelling_stops_the_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    cancelled = asyncio.Event()
    task = asyncio.create_task(
        CommandExecutor().run(stage("--sleep", "60", "--child", "--pid-file", str(pid_file)), cancelled)
    )
    pids = await pids_from(pid_file, 2)
    assert all(alive(pid) for pid in pids)
    cancelled.set()
    result = await asyncio.wait_for(task, 10)
    assert result.status is StageStatus.CANCELLED and result.reason == "cancelled"
    for pid in pids:
        assert await gone(pid), f"process {pid} survived the cancellation"


async def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    cancelled = asyncio.Event()
    run = stage("--sleep", "60", "--ignore-term", "--pid-file", str(pid_file))
    task = asyncio.create_task(CommandExecutor(grace_s=0.3).run(run, cancelled))
    (pid,) = await pids_from(pid_file)
    cancelled.set()
    result = await asyncio.wait_for(task, 10)
    assert result.status is StageStatus.CANCELLED and result.exit_code == -9
    assert await gone(pid)


async def test_leftover_children_holding_the_output_do_not_hold_the_stage(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    run = stage("--lines", "1", "--child", "--pid-file", str(pid_file))
    result = await asyncio.wait_for(CommandExecutor(drain_s=0.3).run(run, asyncio.Event()), 10)
    assert result.status is StageStatus.SUCCESS and result.output == "line 1\n"
    _, child = await pids_from(pid_file, 2)
    assert await gone(child)


async def test_a_missing_executable_fails_with_a_clear_reason() -> None:
    result = await CommandExecutor().run(stage(command=["/nonexistent/deploy.sh", "--now"]), asyncio.Event())
    assert result.status is StageStatus.FAILED
    assert result.reason == "command not found: /nonexistent/deploy.sh"
    assert "Traceback" not in result.output


async def test_a_file_that_is_not_executable_fails_with_a_clear_reason(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = await CommandExecutor().run(stage(command=[str(script)]), asyncio.Event())
    assert result.status is StageStatus.FAILED and result.reason == f"command not executable: {script}"


async def test_a_stage_without_a_command_fails() -> None:
    result = await CommandExecutor().run(stage(command=[]), asyncio.Event())
    assert result.status is StageStatus.FAILED and result.reason == "stage build has no command configured"


async def test_huge_output_is_capped_keeping_head_and_tail() -> None:
    size = 3 * MAX_STORED_OUTPUT
    command = [
        sys.executable,
        "-c",
        f"import sys; sys.stdout.write('HEAD' + 'x' * {size - 8} + 'TAIL'); sys.stdout.flush()",
    ]
    result = await CommandExecutor().run(stage(command=command), asyncio.Event())
    assert result.status is StageStatus.SUCCESS
    assert len(result.output) <= MAX_STORED_OUTPUT
    assert len(result.output) > MAX_STORED_OUTPUT - 100
    assert result.output.startswith("HEAD") and result.output.endswith("TAIL")
    head, marker_and_tail = result.output.split("\n[… ", 1)
    cut = int(marker_and_tail.split(" characters cut …]\n", 1)[0])
    tail = marker_and_tail.split(" characters cut …]\n", 1)[1]
    assert len(head) + cut + len(tail) == size


async def test_invalid_utf8_is_replaced_not_fatal() -> None:
    result = await CommandExecutor().run(stage("--raw", "e282ac ff 41".replace(" ", "")), asyncio.Event())
    assert result.status is StageStatus.SUCCESS and result.output == "€\ufffdA"


def test_output_capture_keeps_everything_under_the_limit() -> None:
    capture = OutputCapture(limit=100)
    for _ in range(10):
        capture.feed(b"0123456789")
    assert capture.text() == "0123456789" * 10


def test_output_capture_over_the_limit_says_how_much_it_cut() -> None:
    capture = OutputCapture(limit=100)
    for index in range(50):
        capture.feed(f"{index:03d}\n".encode())
    text = capture.text()
    assert len(text) <= 100
    assert text.startswith("000\n001\n") and text.endswith("048\n049\n")
    assert "characters cut" in text


def test_output_capture_decodes_characters_split_across_chunks() -> None:
    capture = OutputCapture()
    euro = "€".encode()
    capture.feed(euro[:1])
    capture.feed(euro[1:] + b"!")
    assert capture.text() == "€!"

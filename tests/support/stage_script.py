"""A small stage command for executor tests, driven by flags::

python tests/support/stage_script.py --lines 3 --sleep 0.5 --exit 2 --env --pid-file /tmp/x --child
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=0, help="print this many numbered lines")
    parser.add_argument("--sleep", type=float, default=0.0, help="then sleep this many seconds")
    parser.add_argument("--exit", type=int, default=0, help="then exit with this code")
    parser.add_argument("--env", action="store_true", help="print the RELEASEBOT_* variables and PATH/HOME/LANG")
    parser.add_argument("--bytes", type=int, default=0, help="write this many bytes of output")
    parser.add_argument("--raw", default="", help="write these hex bytes as they are")
    parser.add_argument("--pid-file", help="write the pid here (and the child's, with --child) once started")
    parser.add_argument("--child", action="store_true", help="start a sleeping child in the same process group")
    parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM")
    args = parser.parse_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.env:
        for name in sorted(os.environ):
            print(f"{name}={os.environ[name]}")
    for number in range(1, args.lines + 1):
        print(f"line {number}")
    if args.bytes:
        sys.stdout.write("x" * (args.bytes - 1) + "\n")
    if args.raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(bytes.fromhex(args.raw))
    sys.stdout.flush()
    pids = [os.getpid()]
    if args.child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        pids.append(child.pid)
    if args.pid_file:
        with open(args.pid_file + ".tmp", "w") as handle:
            handle.write(" ".join(str(pid) for pid in pids))
        os.replace(args.pid_file + ".tmp", args.pid_file)
    time.sleep(args.sleep)
    return args.exit


if __name__ == "__main__":
    sys.exit(main())

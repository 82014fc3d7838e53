"""A stand-in pipeline step for demos: says what it would do, takes a moment, and succeeds.

    python3 examples/stages/step.py <step> [--check] [--seconds 0.5]

It reads what releasebot gives every command stage (RELEASEBOT_SERVICE, RELEASEBOT_VERSION,
RELEASEBOT_ENVIRONMENT, RELEASEBOT_DEPLOYMENT, RELEASEBOT_STAGE). With ``--check`` (a smoke test) it fails,
exit code 1, when the version ends with ``-bad``, so a demo can show a failing deployment and its rollback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", help="what this step pretends to do: build, deploy, smoke, ...")
    parser.add_argument("--check", action="store_true", help="fail for a version ending in -bad")
    parser.add_argument("--seconds", type=float, default=0.5, help="how long the step takes")
    args = parser.parse_args()
    service = os.environ.get("RELEASEBOT_SERVICE", "some-service")
    version = os.environ.get("RELEASEBOT_VERSION", "v0")
    environment = os.environ.get("RELEASEBOT_ENVIRONMENT", "somewhere")
    reference = os.environ.get("RELEASEBOT_DEPLOYMENT", "D-?")
    print(f"{reference}: {args.step} {service} {version} for {environment}", flush=True)
    time.sleep(args.seconds / 2)
    print(f"{args.step}: working...", flush=True)
    time.sleep(args.seconds / 2)
    if args.check and version.endswith("-bad"):
        print(f"{args.step}: FAILED: {service} {version} answers 500 on /healthz", flush=True)
        return 1
    print(f"{args.step}: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

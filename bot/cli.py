"""The ``releasebot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.settings import Settings, SettingsError, exit_on_invalid_settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        exit_on_invalid_settings(error)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="releasebot", description="Slack ChatOps release manager.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="serve Slack when credentials are configured, otherwise start the offline shell")
    sub.add_parser("serve", help="serve Slack (HTTP, or Socket Mode when SLACK_APP_TOKEN is set)")
    shell = sub.add_parser("shell", help="offline console: the bot against an in-process fake Slack")
    shell.add_argument("--as", dest="as_user", default="alice", help="the demo user (or Slack id) to act as")
    shell.add_argument("--no-demo", action="store_true", help="do not create the demo workspace")
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="migrate the database to the current schema")
    db_sub.add_parser("status", help="show the schema revision")
    config = sub.add_parser("config", help="configuration as code")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    apply = config_sub.add_parser("apply", help="declare teams, services, environments and users from a YAML file")
    apply.add_argument("file", type=Path)
    deployments = sub.add_parser("deployments", help="list deployments (read-only)")
    deployments.add_argument("--service")
    deployments.add_argument("--env")
    deployments.add_argument("--limit", type=int, default=100)
    deployments.add_argument("--json", action="store_true")
    status = sub.add_parser("status", help="current version per service and environment (read-only)")
    status.add_argument("--json", action="store_true")
    _audit_parser(sub)
    from bot.dora_cli import add_parsers as add_dora_parsers

    add_dora_parsers(sub)
    return parser


def _audit_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit log: verify its hash chain, export it as CSV")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    actions.add_parser("verify", help="recompute every hash; exit 1 naming the first entry that does not match")
    export = actions.add_parser("export", help="write matching entries as CSV to standard output (audited)")
    export.add_argument("--since", help="a day (YYYY-MM-DD, UTC) or a duration such as 7d")
    export.add_argument("--service", help="entries about this service, its releases and its deployments")
    export.add_argument("--user", help="entries by this Slack user id")
    export.add_argument("--action", help="entries whose action starts with this, such as deployment")
    export.add_argument("--limit", type=int, help="only the newest N matching entries")


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = _settings()
    from bot.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    try:
        code = asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        if settings.slack_configured:
            from bot.serve import serve

            return await serve(settings)
        from bot.console import run_shell

        return await run_shell(settings, as_user="alice", demo=True)
    if args.command == "serve":
        from bot.serve import serve

        return await serve(settings)
    if args.command == "shell":
        from bot.console import run_shell

        return await run_shell(settings, as_user=args.as_user, demo=not args.no_demo)
    if args.command == "db":
        return await _db(args, settings)
    if args.command in ("import", "metrics"):
        from bot.dora_cli import run_import, run_metrics

        return await (run_import if args.command == "import" else run_metrics)(args, settings)
    if args.command == "audit":
        from bot.audit_cli import run_audit

        return await run_audit(args, settings)
    if args.command == "config":
        from bot.config_cli import apply_config_file

        return await apply_config_file(settings, args.file)
    if args.command in ("deployments", "status"):
        from bot.reports import deployments_report, status_report

        if args.command == "deployments":
            rows: Any = await deployments_report(settings, service=args.service, environment=args.env, limit=args.limit)
        else:
            rows = await status_report(settings)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            from bot.reports import print_table

            print_table(rows)
        return 0
    raise AssertionError(args.command)


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    from storage.engine import create_engine
    from storage.schema import schema_status, upgrade

    engine = create_engine(settings.database_url_resolved, pool_size=2)
    try:
        if args.db_command == "upgrade":
            await upgrade(engine)
        status = await schema_status(engine)
    finally:
        await engine.dispose()
    print(
        f"schema revision: {status.current or 'none'} (head {status.head}){'' if status.is_current else ' - out of date'}"
    )
    return 0 if status.is_current or args.db_command == "status" else 1

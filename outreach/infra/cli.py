"""The ``outreach`` command: one entry point, one subcommand per concern.

A subcommand is a function ``(settings, args) -> exit code`` (sync or async) registered on a
parser in ``build_parser``; each later concern (ingest, worker, relay, api ...) adds its own.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from outreach.infra.log import configure_logging
from outreach.infra.settings import Settings, load_settings

Handler = Callable[[Settings, argparse.Namespace], "int | Awaitable[int]"]


# -- stack -----------------------------------------------------------------------------------
async def _stack_up(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.infra.stack import Stack, StackError

    try:
        statuses = await Stack(settings).up(timeout=args.timeout)
    except StackError as exc:
        print(f"outreach stack up: {exc}", file=sys.stderr)
        return 1
    _print_statuses(statuses, args.json)
    if not args.json and settings.temporal_ui_url:
        print(f"\nTemporal UI: {settings.temporal_ui_url}")
    return 0


async def _stack_down(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.infra.stack import Stack

    stopped = await Stack(settings).down()
    if args.json:
        print(json.dumps({"stopped": stopped}))
    else:
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


async def _stack_status(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.infra.stack import Stack

    statuses = await Stack(settings).status()
    _print_statuses(statuses, args.json)
    return 0 if all(s.healthy for s in statuses) else 1


def _print_statuses(statuses: Sequence[Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps([s.to_dict() for s in statuses], indent=2))
        return
    for s in statuses:
        state = "healthy" if s.healthy else "DOWN"
        pid = f"pid {s.pid}" if s.pid else "-"
        print(f"{s.name:<9} {state:<8} {s.mode:<9} {s.address:<22} {pid:<11} {s.detail}")


# -- database --------------------------------------------------------------------------------
async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.infra.migrations import migrate_dsn

    applied = await migrate_dsn(settings.postgres_dsn)
    print(f"applied {len(applied)} migration(s)" + (f": {applied}" if applied else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outreach",
        description="Proactive outreach for social assistance: policies find people.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stack = sub.add_parser("stack", help="the embedded default stack (Temporal, Kafka, Postgres)")
    stack_sub = stack.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = stack_sub.add_parser("up", help="start what is not running and wait until it answers")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    up.set_defaults(handler=_stack_up)
    down = stack_sub.add_parser("down", help="stop what `stack up` started")
    down.set_defaults(handler=_stack_down)
    status = stack_sub.add_parser("status", help="ask each service for its health")
    status.set_defaults(handler=_stack_status)
    for p in (up, down, status):
        p.add_argument("--json", action="store_true", help="machine-readable output")

    sub.add_parser("migrate", help="apply pending Postgres migrations").set_defaults(
        handler=_migrate
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    result = handler(settings, args)
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    return int(result)


async def _awaited(result: Awaitable[int]) -> int:
    return await result


if __name__ == "__main__":
    sys.exit(main())

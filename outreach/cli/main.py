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
    from outreach.store.migrations import migrate_dsn

    applied = await migrate_dsn(settings.postgres_dsn)
    print(f"applied {len(applied)} migration(s)" + (f": {applied}" if applied else ""))
    return 0


# -- event store: projections and outbox relay -----------------------------------------------
async def _projections_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.projections import by_name, rebuild
    from outreach.store.database import open_pool
    from outreach.store.event_store import EventStore
    from outreach.store.personal_data import load_keyring

    try:
        projection = by_name(args.name)
    except KeyError as exc:
        print(f"outreach projections rebuild: {exc.args[0]}", file=sys.stderr)
        return 2
    pool = await open_pool(settings)
    try:
        store = EventStore(pool, load_keyring(settings), notify=False)
        applied = await rebuild(store, projection)
    finally:
        await pool.close()
    print(f"{projection.name}: rebuilt from position 0 ({applied} events applied)")
    return 0


async def _projections_failures(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.store.database import open_pool
    from outreach.store.subscription import failures

    pool = await open_pool(settings, max_size=1)
    try:
        total, rows = await failures(pool, limit=args.limit)
    finally:
        await pool.close()
    if args.json:
        listed = [{**vars(f), "failed_at": f.failed_at.isoformat()} for f in rows]
        print(json.dumps({"total": total, "failures": listed}, ensure_ascii=False))
        return 0
    print(f"{total} event(s) stepped over by projections" + (":" if rows else ""))
    for f in rows:
        when = f.failed_at.isoformat(timespec="seconds")
        print(f"  {when}  {f.subscription}  position {f.position}  {f.event_type}  {f.event_id}")
        print(f"      {f.reason}")
    return 0


async def _projections_run(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.projections import run_all
    from outreach.store.database import open_pool
    from outreach.store.event_store import EventStore
    from outreach.store.personal_data import load_keyring

    pool = await open_pool(settings)
    try:
        store = EventStore(pool, load_keyring(settings), notify=False)
        await run_all(store, stop_on_signals(), give_up_after=settings.part_recovery_timeout)
    finally:
        await pool.close()
    return 0


async def _relay(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.relay.outbox import Relay
    from outreach.store.database import open_pool
    from outreach.store.personal_data import load_keyring

    pool = await open_pool(settings, max_size=2)
    try:
        relay = Relay(
            pool,
            settings.kafka_servers,
            keyring=load_keyring(settings),
            batch_size=args.batch_size,
        )
        await relay.run(stop_on_signals(), give_up_after=settings.part_recovery_timeout)
    finally:
        await pool.close()
    return 0


# -- ingest ----------------------------------------------------------------------------------
async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.ingest.app import asyncapi_json, build_ingest

    if args.asyncapi:
        sys.stdout.write(asyncapi_json())
        return 0
    stop = stop_on_signals()
    async with build_ingest(settings):
        await stop.wait()
    return 0


# -- case worker -----------------------------------------------------------------------------
async def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.worker.worker import run_case_worker

    await run_case_worker(settings, stop_on_signals())
    return 0


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM, so long-running commands finish their step and exit."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


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

    projections = sub.add_parser("projections", help="read models built from the event store")
    projections_sub = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = projections_sub.add_parser("rebuild", help="rebuild one projection from position 0")
    rebuild.add_argument("name", help="projection name (cases, household_facts)")
    rebuild.set_defaults(handler=_projections_rebuild)
    projections_sub.add_parser(
        "run", help="keep every projection up to date (until interrupted)"
    ).set_defaults(handler=_projections_run)
    failures = projections_sub.add_parser(
        "failures", help="events projections stepped over because they cannot be applied"
    )
    failures.add_argument("--limit", type=int, default=100, help="newest N (default 100)")
    failures.add_argument("--json", action="store_true", help="machine-readable output")
    failures.set_defaults(handler=_projections_failures)

    relay = sub.add_parser("relay", help="publish the transactional outbox to Kafka, in order")
    relay.add_argument("--batch-size", type=int, default=200, help="messages per round")
    relay.set_defaults(handler=_relay)

    ingest = sub.add_parser(
        "ingest", help="consume the agency feeds: validate, store, dead-letter, start cases"
    )
    ingest.add_argument(
        "--asyncapi", action="store_true", help="print the AsyncAPI document of the topics"
    )
    ingest.set_defaults(handler=_ingest)

    sub.add_parser(
        "worker",
        help="run the case workflows and activities (concurrency: OUTREACH_WORKER_* settings)",
    ).set_defaults(handler=_worker)

    from outreach.cli import api as cli_api
    from outreach.cli import cases as cli_cases
    from outreach.cli import households as cli_households
    from outreach.cli import serve as cli_serve
    from outreach.cli import tokens as cli_tokens

    cli_cases.register(sub)
    cli_households.register(sub)
    cli_tokens.register(sub)
    cli_api.register(sub)
    cli_serve.register(sub)
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

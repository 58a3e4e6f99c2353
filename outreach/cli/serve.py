"""``outreach serve|demo``: every service process in one, and the demo city on top of it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

from outreach.infra.settings import Settings

__all__ = ["register"]


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.cli.main import stop_on_signals
    from outreach.cli.supervisor import ServeError, serve

    try:
        await serve(
            settings,
            stop_on_signals(),
            topic_prefix=args.topic_prefix,
            task_queue=args.task_queue,
        )
    except ServeError as exc:
        print(f"outreach serve: stopped because a part failed: {exc}", file=sys.stderr)
        return 1
    return 0


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.cli.main import stop_on_signals
    from outreach.demo.runner import DemoError, DemoOptions, run_demo
    from outreach.demo.summary import DemoSummary, render_text
    from outreach.infra.log import configure_logging

    if not args.verbose:  # the service's own logs would bury the demo's progress
        configure_logging("WARNING", settings.log_format)
    keep_running = args.keep_running if args.keep_running is not None else sys.stdout.isatty()
    options = DemoOptions(
        seed=args.seed,
        households=args.households,
        days=args.days,
        day_seconds=args.day_seconds,
        month=date.fromisoformat(args.month + "-01"),
        timeout=args.timeout,
        topic_prefix=args.topic_prefix,
        task_queue=args.task_queue,
    )

    def progress(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    def on_summary(summary: DemoSummary) -> None:
        if args.json:
            print(json.dumps(summary.to_dict(), ensure_ascii=False), flush=True)
        else:
            print("\n" + render_text(summary), flush=True)

    try:
        summary = await run_demo(
            settings,
            options,
            stop_on_signals(),
            progress=progress,
            on_summary=on_summary,
            keep_running=keep_running,
        )
    except DemoError as exc:
        if str(exc) == "interrupted":
            print("outreach demo: interrupted", file=sys.stderr)
            return 130
        print(f"outreach demo: {exc}", file=sys.stderr)
        return 1
    return 0 if summary.finished else 1


def _isolation(parser: argparse.ArgumentParser) -> None:
    from outreach.infra.temporal import TASK_QUEUE

    # for tests that share one broker and one Temporal server between runs (not in --help)
    parser.add_argument("--topic-prefix", default="", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", default=TASK_QUEUE, help=argparse.SUPPRESS)


def register(sub: Any) -> None:
    """Add ``serve`` and ``demo`` to the ``outreach`` parser's subparsers."""
    serve = sub.add_parser(
        "serve",
        help="run ingest, worker, relay, projections and the API in one process (until"
        " SIGINT/SIGTERM)",
        description="Everything in one process, for a small installation; each part also runs"
        " alone (outreach ingest|worker|relay|projections run|api) to scale out. If a part"
        " fails, the others stop and the exit status is 1.",
    )
    _isolation(serve)
    serve.set_defaults(handler=_serve)

    demo = sub.add_parser(
        "demo",
        help="run everything on the embedded stack with a synthetic city's month of feeds",
        description="Starts the embedded stack (services configured as external are used as"
        " they are), runs everything `outreach serve` runs, publishes a seeded synthetic city's"
        " month of agency feeds, lets simulated caseworkers complete visits through the HTTP"
        " API, and prints a summary with the URLs and tokens to sign in with.",
    )
    demo.add_argument("--seed", type=int, default=7, help="the city's random seed (default 7)")
    demo.add_argument(
        "--households", type=int, default=120, help="households in the city (default 120)"
    )
    demo.add_argument("--days", type=int, default=30, help="days of feeds (default 30)")
    demo.add_argument(
        "--day-seconds",
        type=float,
        default=0.5,
        help="real seconds a simulated day lasts while publishing (default 0.5)",
    )
    demo.add_argument(
        "--month", default="2024-03", help="the simulated month, YYYY-MM (default 2024-03)"
    )
    demo.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait for every case to reach an outcome (default 600)",
    )
    running = demo.add_mutually_exclusive_group()
    running.add_argument(
        "--keep-running",
        dest="keep_running",
        action="store_true",
        default=None,
        help="keep serving after the summary until Ctrl-C (default on a terminal)",
    )
    running.add_argument(
        "--exit",
        dest="keep_running",
        action="store_false",
        help="stop after the summary (the stack keeps running)",
    )
    demo.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object (last line)"
    )
    demo.add_argument(
        "--verbose", action="store_true", help="show the service's log (OUTREACH_LOG_LEVEL)"
    )
    _isolation(demo)
    demo.set_defaults(handler=_demo)

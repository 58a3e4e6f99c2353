"""``outreach api``: the HTTP API and the web page alone (scale out by running more)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from outreach.infra.settings import Settings

__all__ = ["register"]


async def _api(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.api.app import ApiStartError, create_app, serve_api
    from outreach.cli.main import stop_on_signals

    if args.host is not None or args.port is not None:
        settings = settings.model_copy(
            update={
                "api_host": args.host if args.host is not None else settings.api_host,
                "api_port": args.port if args.port is not None else settings.api_port,
            }
        )
    try:
        await serve_api(settings, create_app(settings), stop_on_signals())
    except ApiStartError as exc:
        print(f"outreach api: {exc} (see the log above)", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    """Add ``api`` to the ``outreach`` parser's subparsers."""
    api = sub.add_parser(
        "api",
        help="serve the HTTP API and web page (OUTREACH_API_HOST/OUTREACH_API_PORT) until"
        " SIGINT/SIGTERM",
    )
    api.add_argument("--host", help="interface to listen on (default: OUTREACH_API_HOST)")
    api.add_argument("--port", type=int, help="port (default: OUTREACH_API_PORT, 8000)")
    api.set_defaults(handler=_api)

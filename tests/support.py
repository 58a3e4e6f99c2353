"""Helpers shared by tests (importable; fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from outreach.infra.settings import Settings, load_settings

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, on a private loop in its own thread."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_settings(state_dir: Path, **extra: Any) -> Settings:
    """Settings for a private embedded stack on free ports (external servers from the env win)."""
    return load_settings(
        OUTREACH_STATE_DIR=state_dir,
        OUTREACH_TEMPORAL_PORT=free_port(),
        OUTREACH_TEMPORAL_UI_PORT=free_port(),
        OUTREACH_KAFKA_PORT=free_port(),
        OUTREACH_POSTGRES_PORT=free_port(),
        **extra,
    )


async def shred(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> int:
    """``outreach households shred *argv`` in this process; its exit code."""
    from outreach.cli.main import build_parser

    capsys.readouterr()
    args = build_parser().parse_args(["households", "shred", *argv])
    return int(await args.handler(settings, args))

"""Serving the API app under uvicorn in the caller's event loop, stopped by the caller."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from outreach.infra.log import get_logger
from outreach.infra.settings import Settings

__all__ = ["ApiStartError", "serve_api"]

log = get_logger(__name__)


class ApiStartError(RuntimeError):
    """The API could not start (port taken, lifespan failed); the reason is logged."""


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the process's own handlers set ``stop``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(
    settings: Settings,
    app: FastAPI,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve ``app`` on ``settings.api_host:api_port`` in the current event loop until ``stop``
    is set (then finish the requests in flight, up to 10 s, and return).

    uvicorn's own logging setup and signal handlers are left out: records go through the
    process's structlog configuration, and the caller decides when to stop. ``ready`` is set
    once the socket listens. Raises :class:`ApiStartError` when the server cannot start.
    """
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,  # query strings may carry household ids; see outreach.api.app
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)

    async def watch() -> None:
        while not server.started:
            if server.should_exit or stop.is_set():
                break
            await asyncio.sleep(0.02)
        else:
            log.info("api listening", url=f"http://{settings.api_host}:{settings.api_port}")
            if ready is not None:
                ready.set()
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits on a taken port or a failed lifespan
        raise ApiStartError(
            f"the API could not start on {settings.api_host}:{settings.api_port}"
        ) from exc
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if not server.started and not stop.is_set():
        raise ApiStartError(f"the API could not start on {settings.api_host}:{settings.api_port}")

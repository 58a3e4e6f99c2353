"""Serve the real HTTP API in-process for a test, and mint tokens for it.

::

    async with serve_app(settings, pg_pool, store, temporal_client) as base_url:
        token = await mint(pg_pool, "caseworker", "yongding")
        async with httpx.AsyncClient(base_url=base_url, headers=bearer(token)) as http:
            ...

``serve_app`` runs uvicorn (``outreach.api.server.serve_api``) on a free port of 127.0.0.1 in the
test's event loop, over the pool, event store and Temporal client given (the app's lifespan
opens nothing of its own), and stops it on exit. Browser tests open ``base_url`` in Chromium.
The API reads the projections (``cases``, ``visit_tasks`` ...): call ``project_all(store)``
after the case moved, as ``outreach projections run`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from temporalio.client import Client

from outreach.api.app import create_app
from outreach.api.server import serve_api
from outreach.cases.access import Principal, create_token
from outreach.infra.settings import Settings
from outreach.projections import PROJECTIONS, subscription_for
from outreach.store.event_store import EventStore
from tests.support import free_port

__all__ = ["bearer", "mint", "mint_principal", "project_all", "serve_app"]


@asynccontextmanager
async def serve_app(
    settings: Settings, db: asyncpg.Pool, store: EventStore, temporal: Client
) -> AsyncIterator[str]:
    """The API and web page served on a free local port; yields the base URL (no trailing /)."""
    port = free_port()
    served = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": port})
    app = create_app(served, db=db, store=store, temporal=temporal)
    stop, ready = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve_api(served, app, stop, ready=ready))
    try:
        ready_wait = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {server, ready_wait}, timeout=20, return_when=asyncio.FIRST_COMPLETED
        )
        if server in done:
            ready_wait.cancel()
            server.result()  # raises why it could not start
            raise RuntimeError("the API stopped before it was ready")
        if not done:
            ready_wait.cancel()
            raise RuntimeError(f"the API did not start on port {port} within 20 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(server, 20)


async def mint_principal(
    db: asyncpg.Pool, role: str, *districts: str, name: str | None = None
) -> tuple[str, Principal]:
    """A new token (and its principal) with ``role`` for ``districts`` (none for ops)."""
    return await create_token(
        db, role=role, districts=districts, name=name or f"test-{role}-{uuid.uuid4().hex[:6]}"
    )


async def mint(db: asyncpg.Pool, role: str, *districts: str, name: str | None = None) -> str:
    """A new bearer token with ``role`` for ``districts`` (none for ops)."""
    token, _ = await mint_principal(db, role, *districts, name=name)
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def project_all(store: EventStore) -> None:
    """Bring every projection (cases, visit_tasks, enrolments, facts) up to date, once."""
    for projection in PROJECTIONS:
        await subscription_for(store, projection).catch_up()

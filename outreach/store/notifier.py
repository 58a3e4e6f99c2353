"""Subscribers' wake-ups after appends: one coalesced NOTIFY, sent outside the append's commit."""

from __future__ import annotations

import asyncio
from typing import Final

import asyncpg

from outreach.infra.log import get_logger

CHANNEL: Final = "outreach_events"
"""LISTEN/NOTIFY channel poked after appends (events and outbox messages)."""
_NOTIFY_INTERVAL: Final = 0.01
_NOTIFY = f"BEGIN; SET LOCAL synchronous_commit = off; NOTIFY {CHANNEL}; COMMIT"

log = get_logger("outreach.store.event_store")  # logs as the event store, as before the split


class Notifier:
    """Coalesces wake-ups: one NOTIFY at a time, at most one per ``_NOTIFY_INTERVAL``, and
    the last append is always followed by one.

    Not inside the append: PostgreSQL holds a global lock from the notify queue insert to the end
    of commit, which would serialise commits. Sent after a committed append instead, with
    ``synchronous_commit=off``. Subscribers also poll, so a lost notification (or one sent before
    the caller's own transaction committed) costs at most a poll interval."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending = False
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-store-notify")

    async def _run(self) -> None:
        while self._pending:
            self._pending = False
            try:
                async with self._pool.acquire() as conn:
                    await conn.execute(_NOTIFY)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                # Subscribers poll as well; a lost wake-up only delays them.
                log.warning("could not notify subscribers", error=str(exc))
                return
            # At most one NOTIFY per interval: under load one wake-up covers many appends.
            await asyncio.sleep(_NOTIFY_INTERVAL)

    async def aclose(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

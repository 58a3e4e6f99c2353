"""Follow the global event order from a stored checkpoint: the base of projections.

A :class:`Subscription` has a name and a handler ``async (conn, events) -> None``. Each step runs
in one transaction: lock the checkpoint, read the next page after it (``EventStore.read_page``,
which never skips an event), call the handler with that transaction's connection, move the
checkpoint to the page's last position, commit. Whatever the handler writes with ``conn``
therefore commits together with the checkpoint: an effect is applied exactly once even if the
process dies at any point, and a restarted subscription resumes where the last commit left it.

A subscription for some ``types`` reads its pages with them: events of other types count towards
the page and move the checkpoint, but are neither sent by the database nor decoded (or
decrypted) here. A step that only moved the checkpoint past such events commits without waiting
for its WAL flush (``synchronous_commit = off``): losing it in a server crash costs a re-read.
With ``decrypt=False`` the handler gets events with their personal members sealed and opens
those it needs (``event.decrypted()``).

With a ``span`` handler (a set-based projection), a step does not read the page's events out:
it reads only how far the page reaches and how many wanted events it holds
(``EventStore.read_span``), and calls ``span(conn, after, upto)``, which applies the wanted
events in that range of positions with SQL of its own and returns the positions of those it
left to ``handler`` (ones that need Python, such as a decryption); only those are read and
passed to ``handler``.

Page size: ``batch_size`` events at first, doubled after each full page up to ``max_batch_size``
and halved (not below ``batch_size``) after one less than half full: a subscription that is
behind (a burst, a restart) catches up in fewer, larger steps, each costing a handful of round
trips and, for a projection that writes a page at once, fewer rows written.

Waiting: the loop LISTENs on :data:`~outreach.store.event_store.CHANNEL` (appends poke it) and
polls every ``poll_interval`` anyway, so a lost notification or a dropped listener connection
only delays it. When the page stopped short because an older transaction is still open (see the
event store's "horizon"), it retries soon instead of waiting for the next notification. After a
page that was not full it first waits ``min_interval`` (not woken by pokes): a step costs a
handful of round trips whatever its size, and under a stream of appends (ingest pokes after
each batch) this lets events gather into fewer, larger steps, for at most that much latency.
The steps run on the listening connection itself.

Two processes running the same subscription cooperate: the per-name advisory lock makes their
steps take turns, and each step starts from the checkpoint the previous one committed.

Failures are sorted (``outreach.infra.failures``). A transient one (the database went away)
leaves the checkpoint where it was and the step is tried again. A permanent one (an event the
handler's tables cannot hold) is never retried as if the database were down: the step runs
again with each event of the page in a savepoint of its own, and each event that still fails is
recorded in ``projection_failures`` (position, event, reason) and stepped over, so one bad event
cannot stop a read model for good (:func:`record_failure`, :func:`failures`).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from outreach.events.limits import printable
from outreach.infra.failures import is_permanent
from outreach.infra.log import get_logger
from outreach.store.database import Conn
from outreach.store.event_store import CHANNEL, EventStore, RecordedEvent

__all__ = [
    "Failure",
    "Handler",
    "SpanHandler",
    "StepResult",
    "Subscription",
    "checkpoint_lock",
    "failures",
]

Handler = Callable[[Conn, Sequence[RecordedEvent]], Awaitable[None]]
SpanHandler = Callable[[Conn, int, int], Awaitable[Sequence[int]]]
"""``(conn, after, upto)``: apply the wanted events at positions in ``(after, upto]`` in the
database; return the positions of those left for the row handler."""
_LOCK_CLASS: Final = 0x6F757472  # advisory lock namespace for checkpoints ("outr")
_HELD_BACK_RETRY: Final = 0.05
_GROWTH: Final = 8
"""Default ``max_batch_size``, as a multiple of ``batch_size``."""

log = get_logger(__name__)


async def checkpoint_lock(conn: Conn, name: str) -> None:
    """Serialise work on checkpoint ``name`` until the end of ``conn``'s transaction.

    An advisory lock rather than ``SELECT ... FOR UPDATE``: it assigns no transaction id, so a
    step does not hold back the read horizon of the very page it is about to read.
    """
    key = zlib.crc32(name.encode()) - 2**31  # int4 range
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_CLASS, key)


async def read_checkpoint(conn: Conn, name: str) -> int:
    position = await conn.fetchval("SELECT position FROM checkpoints WHERE name = $1", name)
    return int(position) if position is not None else 0


async def write_checkpoint(conn: Conn, name: str, position: int, *, durable: bool = True) -> None:
    """Move checkpoint ``name``; ``durable=False`` also lets the transaction commit without
    waiting for its WAL flush (``synchronous_commit = off``, in the same round trip)."""
    await conn.execute(_WRITE_CHECKPOINT, name, position, durable)


_WRITE_CHECKPOINT: Final = """
    WITH written AS (
        INSERT INTO checkpoints (name, position) VALUES ($1, $2)
        ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()
    )
    SELECT set_config('synchronous_commit', 'off', true) WHERE NOT $3::boolean
"""
"""A data-modifying CTE runs whether or not it is referenced; ``set_config(..., true)`` is
``SET LOCAL``."""


@dataclass(frozen=True)
class Failure:
    """An event a subscription stepped over because its handler can never apply it."""

    subscription: str
    position: int
    event_id: str
    event_type: str
    reason: str
    failed_at: datetime


async def record_failure(conn: Conn, name: str, event: RecordedEvent, exc: BaseException) -> None:
    code = getattr(exc, "sqlstate", None)
    reason = f"{type(exc).__name__}" + (f" (SQLSTATE {code})" if code else "") + f": {exc}"
    await conn.execute(
        "INSERT INTO projection_failures (subscription, position, event_id, event_type, reason)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription, position) DO UPDATE"
        " SET reason = excluded.reason, failed_at = now()",
        name,
        event.position,
        event.event_id,
        event.type,
        printable(reason, 1000),
    )


async def failures(db: asyncpg.Pool | Conn, *, limit: int = 100) -> tuple[int, list[Failure]]:
    """How many events subscriptions stepped over, and the newest ``limit`` of them."""
    total = await db.fetchval("SELECT count(*) FROM projection_failures")
    rows = await db.fetch(
        "SELECT subscription, position, event_id, event_type, reason, failed_at"
        " FROM projection_failures ORDER BY failed_at DESC, position DESC LIMIT $1",
        limit,
    )
    return int(total or 0), [
        Failure(
            r["subscription"],
            r["position"],
            str(r["event_id"]),
            r["event_type"],
            r["reason"],
            r["failed_at"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class StepResult:
    read: int
    """Events read (and the checkpoint moved past)."""
    handled: int
    """Of those, events passed to the handler (its ``types`` filter)."""
    position: int
    """The checkpoint after the step."""
    full: bool
    """The page was full: more events are probably waiting."""
    held_back: bool
    """Newer events exist but wait for an older open transaction."""


class Subscription:
    """A named, checkpointed follower of every event (optionally only some types)."""

    def __init__(
        self,
        store: EventStore,
        name: str,
        handler: Handler,
        *,
        types: frozenset[str] | None = None,
        batch_size: int = 500,
        max_batch_size: int | None = None,
        decrypt: bool = True,
        poll_interval: float = 1.0,
        min_interval: float = 0.05,
        span: SpanHandler | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.handler = handler
        self.span = span
        self.types = types
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size or _GROWTH * batch_size)
        self.decrypt = decrypt
        self.poll_interval = poll_interval
        self.min_interval = min_interval
        self._limit = batch_size
        self._step_limit = batch_size
        self._wake = asyncio.Event()
        self._log = log.bind(subscription=name)

    async def position(self) -> int:
        async with self.store.pool.acquire() as conn:
            return await read_checkpoint(conn, self.name)

    async def step(self, conn: Conn | None = None) -> StepResult:
        """Handle the next page in one transaction with the checkpoint, on ``conn`` (not in a
        transaction) or on a connection of the store's pool."""
        if conn is None:
            async with self.store.pool.acquire() as own:
                return await self.step(own)
        try:
            async with conn.transaction():
                return await self._step(conn, own_transaction=True)
        except Exception as exc:
            if not is_permanent(exc):
                raise
            self._log.error("an event cannot be applied; isolating it", error=repr(exc)[:300])
        async with conn.transaction():  # the same page again, each event on its own
            return await self._step(conn, own_transaction=True, isolate=True)

    async def step_in(self, conn: Conn) -> StepResult:
        """:meth:`step` inside the caller's transaction (used by projection rebuilds)."""
        try:
            async with conn.transaction():  # a savepoint: a failed page leaves nothing behind
                return await self._step(conn, own_transaction=False)
        except Exception as exc:
            if not is_permanent(exc):
                raise
        return await self._step(conn, own_transaction=False, isolate=True)

    async def _step(
        self, conn: Conn, *, own_transaction: bool, isolate: bool = False
    ) -> StepResult:
        """One page. ``isolate``: the page a permanent failure aborted, read again with the
        same size and applied an event at a time (:meth:`_handle_each`)."""
        await checkpoint_lock(conn, self.name)
        after = await read_checkpoint(conn, self.name)
        limit = self._step_limit if isolate else self._limit
        self._step_limit = limit
        # Events of other types are only stepped over (not sent, decoded or decrypted).
        rows = self.span is None or isolate
        if rows:
            page = await self.store.read_page(
                after, limit, types=self.types, decrypt=self.decrypt, conn=conn
            )
        else:
            page = await self.store.read_span(after, limit, types=self.types, conn=conn)
        full = page.count == limit
        # The next page's size (a step that fails only leaves this hint behind).
        if full:
            self._limit = min(2 * limit, self.max_batch_size)
        elif 2 * page.count < limit:
            self._limit = max(limit // 2, self.batch_size)
        position = page.end
        if position is None:
            return StepResult(0, 0, after, False, page.held_back)
        handled = len(page.events) if rows else page.wanted
        if handled and isolate:
            await self._handle_each(conn, page.events)
        elif handled:
            await self._handle(conn, page.events, after, position)
        # A step that only moved the checkpoint (past events of other types) need not wait for
        # its WAL flush: losing its commit in a server crash costs a re-read.
        durable = bool(handled) or not own_transaction
        await write_checkpoint(conn, self.name, position, durable=durable)
        return StepResult(page.count, handled, position, full, page.held_back)

    async def _handle(
        self, conn: Conn, events: Sequence[RecordedEvent], after: int, upto: int
    ) -> None:
        if self.span is not None:
            left = await self.span(conn, after, upto)
            if not left:
                return
            events = await self.store.read_positions(left, decrypt=self.decrypt, conn=conn)
        await self.handler(conn, events)

    async def _handle_each(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        """``events`` one at a time, each in a savepoint, through the row handler (a set-based
        projection's ``apply_batch`` handles every event its SQL does); those that fail for
        good are recorded and stepped over."""
        for event in events:
            try:
                async with conn.transaction():
                    await self.handler(conn, [event])
            except Exception as exc:
                if not is_permanent(exc):
                    raise
                self._log.error(
                    "event stepped over: it cannot be applied",
                    position=event.position,
                    event_type=event.type,
                    error=repr(exc)[:300],
                )
                await record_failure(conn, self.name, event, exc)

    async def catch_up(self) -> int:
        """Step until nothing is left right now; returns the number of events handled."""
        handled = 0
        async with self.store.pool.acquire() as conn:
            while True:
                result = await self.step(conn)
                handled += result.handled
                if not result.full:
                    return handled

    async def run(
        self, stop: asyncio.Event | None = None, *, give_up_after: float | None = None
    ) -> None:
        """Follow forever (or until ``stop`` is set); rides through database restarts.

        A failing step is retried with backoff (a permanent failure never reaches here: see
        the module docstring); ``give_up_after`` seconds of failing steps with no success in
        between raise a RuntimeError from the last failure (None: never give up).
        """
        stop = stop or asyncio.Event()
        self._log.info("subscription started")
        listener: PoolConnectionProxy[Any] | None = None
        failures = 0
        failing_since: float | None = None
        held_back_wait = _HELD_BACK_RETRY / 2
        try:
            while not stop.is_set():
                if listener is None or _lost(listener):
                    previous, listener = listener, None
                    listener = await self._listen(previous)
                self._wake.clear()  # before reading: a poke during the step is not lost
                try:
                    # Steps run on the listening connection (None: one from the pool each):
                    # notifications wait for the end of its transaction, and each step saves
                    # the pool's acquire and reset round trips.
                    result = await self.step(listener)
                    failures, failing_since = 0, None
                except Exception as exc:  # the database went away: retry, never skip
                    failures += 1
                    now = time.monotonic()
                    failing_since = failing_since or now
                    if give_up_after is not None and now - failing_since > give_up_after:
                        self._log.error("subscription not recovering; giving up", error=repr(exc))
                        raise RuntimeError(
                            f"{self.name}: not recovered within {give_up_after:g} s ({exc!r})"
                        ) from exc
                    delay = min(30.0, 0.5 * 2**failures)
                    self._log.error(
                        "subscription step failed", error=repr(exc), retry_in=delay, exc_info=True
                    )
                    if listener is not None:  # back to the pool (reset, or closed if broken)
                        broken, listener = listener, None
                        await self._unlisten(broken)
                    await pause(stop, None, delay)
                    continue
                if result.handled:
                    self._log.debug("handled", count=result.handled, position=result.position)
                if result.full:
                    continue
                # Caught up: let events gather a little, however often appends poke, so that a
                # step (a few round trips, whatever its size) serves many of them.
                if await pause(stop, None, self.min_interval):
                    break
                if result.held_back:  # an older transaction is open: look again soon, backing off
                    held_back_wait = min(self.poll_interval, held_back_wait * 2)
                    await pause(stop, self._wake, held_back_wait)
                else:
                    held_back_wait = _HELD_BACK_RETRY / 2
                    await pause(stop, self._wake, self.poll_interval)
        finally:
            if listener is not None:
                await self._unlisten(listener)
            self._log.info("subscription stopped")

    async def _listen(
        self, previous: PoolConnectionProxy[Any] | None
    ) -> PoolConnectionProxy[Any] | None:
        """A pool connection kept for LISTEN; None (poll only) when it cannot be had now."""
        if previous is not None:
            await self._unlisten(previous)
        try:
            conn = await self.store.pool.acquire()
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            self._log.warning("cannot LISTEN, polling only", error=str(exc))
            return None
        try:
            await conn.add_listener(CHANNEL, self._poked)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            self._log.warning("cannot LISTEN, polling only", error=str(exc))
            await self._unlisten(conn)
            return None
        return conn

    async def _unlisten(self, conn: PoolConnectionProxy[Any]) -> None:
        """``conn`` back to the pool, whatever state the server left it in. A release whose
        reset fails (the server restarted) terminates the connection and re-raises: that must
        not end the subscription, and the proxy must not be touched again (it is detached)."""
        try:
            if not _lost(conn):
                await conn.remove_listener(CHANNEL, self._poked)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            pass
        try:
            await self.store.pool.release(conn)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            self._log.warning("listening connection dropped", error=repr(exc)[:200])

    def _poked(self, *_: object) -> None:
        self._wake.set()


def _lost(conn: PoolConnectionProxy[Any]) -> bool:
    """True when ``conn`` can no longer be used. asyncpg releases a pooled connection whose
    server went away by itself and detaches its proxy, on which every call then raises."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


async def pause(stop: asyncio.Event, wake: asyncio.Event | None, timeout: float) -> bool:
    """Sleep up to ``timeout``, less if ``stop`` (or ``wake``) is set; True when stopping."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    return stop.is_set()

"""The outbox relay (``outreach relay``): publish recorded outbound messages to Kafka, in order.

Domain code records messages with ``EventStore.append(..., outbox=[...])`` in the same
transaction as the events that cause them, so a message exists if and only if its events do.
The relay then loops:

1. read the oldest unsent rows in position order, only below the read horizon (the same rule
   as event followers: a message whose transaction is still open can never be overtaken by a
   later one);
2. send them (value = the CloudEvent as compact UTF-8 JSON, key, headers) and wait until Kafka
   acknowledged every one (``acks=all``; aiokafka keeps one batch in flight per partition, so
   order within a partition holds);
3. mark them sent.

A crash between 2 and 3 re-sends that batch after the restart: duplicates, with the same
CloudEvents ids, so consumers drop them; never a loss, and the first copies arrive in order.
Only one relay publishes at a time: the leader holds a session advisory lock on its own
connection, others wait for it (and take over if its connection dies). Sent rows are deleted
after ``retention``.

A row's personal fields (the household id) are stored encrypted with the household's data key
(``EventStore.append``); the relay opens them for the message, which is the contract's. Once the
household is shredded (``outreach households shred``), a message still unsent goes out without
them rather than not at all: consumers dedupe and correlate on the CloudEvents id and
``case_id``, and a lost enrolment, closing or termination would be a case they never hear of.
Rows written in clear before migration 0301 are published as they are, and lose their personal
fields when marked sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Final, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer
from asyncpg.pool import PoolConnectionProxy

from outreach.infra.log import get_logger
from outreach.store.event_store import (
    CHANNEL,
    HORIZON_SQL,
    OUTBOX_WITHOUT_CLEAR_PERSONAL,
    open_outbound,
)
from outreach.store.personal_data import DataKeys, KeyRing
from outreach.store.subscription import pause

__all__ = ["CONTENT_TYPE", "Producer", "Relay"]

CONTENT_TYPE: Final = "application/cloudevents+json; charset=UTF-8"
"""Default ``content-type`` header: structured-mode CloudEvents (Kafka protocol binding)."""
_LEADER_LOCK: Final = (0x6F757472, 0x72656C61)  # ("outr", "rela")
_PENDING = f"""
    SELECT o.position, o.message_id, o.topic, o.key, o.payload, o.headers, o.stream,
           k.key_id, k.wrapped_key
    FROM outbox o LEFT JOIN household_keys k ON k.stream = o.stream
    WHERE o.sent_at IS NULL AND o.position < {HORIZON_SQL}
    ORDER BY o.position LIMIT $1
"""

log = get_logger(__name__)


class Producer(Protocol):
    """The part of ``AIOKafkaProducer`` the relay uses (tests may pass their own)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]: ...


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        *,
        keyring: KeyRing,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=7),
        producer_factory: Callable[[], Producer] | None = None,
    ) -> None:
        self.pool = pool
        self.keys = DataKeys(keyring)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self._producer_factory = producer_factory or (
            lambda: AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
        )
        self._wake = asyncio.Event()
        self._last_prune = 0.0
        self._healthy_at = time.monotonic()
        """When a round last reached the database (``run``'s give-up clock)."""

    async def run(
        self, stop: asyncio.Event | None = None, *, give_up_after: float | None = None
    ) -> None:
        """Publish until ``stop`` is set (or the task is cancelled); recovers from failures.
        Failing for ``give_up_after`` seconds without reaching the database raises (None: never)."""
        stop = stop or asyncio.Event()
        failures = 0
        while not stop.is_set():
            try:
                await self._lead(stop)
                failures = 0
            except Exception as exc:  # Kafka, Postgres or network: start over after a pause
                failures += 1
                if give_up_after is not None and self._failing_for() > give_up_after:
                    log.error("relay not recovering; giving up", error=repr(exc))
                    raise RuntimeError(
                        f"not recovered within {give_up_after:g} s ({exc!r})"
                    ) from exc
                delay = min(30.0, 0.5 * 2**failures)
                log.error("relay failed; restarting", error=repr(exc), retry_in=delay)
                await pause(stop, None, delay)

    def _failing_for(self) -> float:
        return time.monotonic() - self._healthy_at

    async def _lead(self, stop: asyncio.Event) -> None:
        conn = await self.pool.acquire()
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *_LEADER_LOCK):
                log.debug("another relay is publishing; waiting")
                self._healthy_at = time.monotonic()  # a standby is healthy too
                if await pause(stop, None, self.poll_interval):
                    return
            await conn.add_listener(CHANNEL, self._poked)
            producer = self._producer_factory()
            await producer.start()
            log.info("relay publishing")
            try:
                await self._publish_loop(conn, producer, stop)
            finally:
                await producer.stop()
        finally:
            await _release(self.pool, conn, self._poked)

    async def _publish_loop(
        self, conn: PoolConnectionProxy[Any], producer: Producer, stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            self._wake.clear()
            sent = await self.publish_batch(conn, producer)
            await self._maybe_prune(conn)
            if sent < self.batch_size:
                await pause(stop, self._wake, self.poll_interval)

    async def publish_batch(self, conn: PoolConnectionProxy[Any], producer: Producer) -> int:
        """Send the next unsent rows and mark them sent; returns how many."""
        rows = await conn.fetch(_PENDING, self.batch_size)
        self._healthy_at = time.monotonic()
        if not rows:
            return 0
        pending = [
            await producer.send(
                row["topic"],
                value=self._value(row),
                key=row["key"].encode() if row["key"] is not None else None,
                headers=_headers(row["headers"]),
            )
            for row in rows
        ]
        await asyncio.gather(*pending)
        await self.mark_sent(conn, [row["position"] for row in rows])
        log.info(
            "outbox published",
            count=len(rows),
            first=rows[0]["message_id"],
            last=rows[-1]["message_id"],
        )
        return len(rows)

    async def mark_sent(self, conn: PoolConnectionProxy[Any], positions: Sequence[int]) -> None:
        # A row written in clear (before migration 0301) keeps no household id once sent.
        await conn.execute(
            f"UPDATE outbox SET sent_at = now(), payload = {OUTBOX_WITHOUT_CLEAR_PERSONAL}"
            " WHERE position = ANY($1::bigint[])",
            positions,
        )

    async def _maybe_prune(self, conn: PoolConnectionProxy[Any]) -> None:
        if time.monotonic() - self._last_prune < 3600:
            return
        self._last_prune = time.monotonic()
        pruned = await conn.execute(
            "DELETE FROM outbox WHERE sent_at < now() - $1::interval", self.retention
        )
        log.debug("sent outbox messages pruned", result=pruned)

    def _poked(self, *_: object) -> None:
        self._wake.set()

    def _value(self, row: asyncpg.Record) -> bytes:
        """The Kafka value: the CloudEvent, personal fields opened, as compact UTF-8 JSON (the
        same bytes on every retry)."""
        payload, shredded = open_outbound(
            self.keys,
            row["stream"],
            row["message_id"],
            json.loads(row["payload"]),
            row["key_id"],
            row["wrapped_key"],
        )
        if shredded:
            log.warning(
                "household shredded: outbound message published without its personal fields",
                message_id=row["message_id"],
                household=row["stream"],
            )
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _headers(stored: str) -> list[tuple[str, bytes]]:
    headers: dict[str, str] = json.loads(stored)
    if not any(name.lower() == "content-type" for name in headers):
        headers = {"content-type": CONTENT_TYPE, **headers}
    return [(name, value.encode()) for name, value in headers.items()]


async def _release(
    pool: asyncpg.Pool, conn: PoolConnectionProxy[Any], listener: Callable[..., None]
) -> None:
    try:
        if not conn.is_closed():
            await conn.remove_listener(CHANNEL, listener)
            await conn.execute("SELECT pg_advisory_unlock_all()")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        pass
    finally:
        await pool.release(conn)

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
after ``retention`` (they carry the contract payload, which names the household).
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

from outreach.infra.event_store import CHANNEL, HORIZON_SQL
from outreach.infra.log import get_logger
from outreach.infra.subscription import pause

__all__ = ["CONTENT_TYPE", "Producer", "Relay"]

CONTENT_TYPE: Final = "application/cloudevents+json; charset=UTF-8"
"""Default ``content-type`` header: structured-mode CloudEvents (Kafka protocol binding)."""
_LEADER_LOCK: Final = (0x6F757472, 0x72656C61)  # ("outr", "rela")
_PENDING = f"""
    SELECT position, message_id, topic, key, payload, headers FROM outbox
    WHERE sent_at IS NULL AND position < {HORIZON_SQL}
    ORDER BY position LIMIT $1
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
        batch_size: int = 200,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=7),
        producer_factory: Callable[[], Producer] | None = None,
    ) -> None:
        self.pool = pool
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self._producer_factory = producer_factory or (
            lambda: AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
        )
        self._wake = asyncio.Event()
        self._last_prune = 0.0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Publish until ``stop`` is set (or the task is cancelled); recovers from failures."""
        stop = stop or asyncio.Event()
        failures = 0
        while not stop.is_set():
            try:
                await self._lead(stop)
                failures = 0
            except Exception as exc:  # Kafka, Postgres or network: start over after a pause
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.error("relay failed; restarting", error=repr(exc), retry_in=delay)
                await pause(stop, None, delay)

    async def _lead(self, stop: asyncio.Event) -> None:
        conn = await self.pool.acquire()
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *_LEADER_LOCK):
                log.debug("another relay is publishing; waiting")
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
        if not rows:
            return 0
        pending = [
            await producer.send(
                row["topic"],
                value=_value(row["payload"]),
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
        await conn.execute(
            "UPDATE outbox SET sent_at = now() WHERE position = ANY($1::bigint[])", positions
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


def _value(payload: str) -> bytes:
    """The Kafka value: compact UTF-8 JSON (the same bytes on every retry)."""
    return json.dumps(json.loads(payload), ensure_ascii=False, separators=(",", ":")).encode()


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

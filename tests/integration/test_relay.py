"""The outbox relay against real Postgres and the Kafka-protocol broker: restarts lose nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from outreach.infra.settings import Settings
from outreach.relay.outbox import Relay
from outreach.store.event_store import EventStore
from outreach.store.personal_data import load_keyring
from tests.relay_support import (
    consume,
    create_topic,
    new_relay,
    record_messages,
    unsent,
    wait_until,
)


def first_occurrences(messages: Sequence[dict[str, Any]]) -> list[str]:
    order: list[str] = []
    for m in messages:
        if m["id"] not in order:
            order.append(m["id"])
    return order


async def test_relay_stopped_midway_and_restarted_loses_and_reorders_nothing(
    settings: Settings, store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    topic = f"outreach.test.{unique}"
    await create_topic(settings, topic)
    ids = await record_messages(store, topic, unique, 60)

    relay = StallsMidway(
        topic, pg_pool, settings.kafka_servers, keyring=load_keyring(settings), batch_size=7
    )
    first_run = asyncio.create_task(relay.run())
    await asyncio.wait_for(relay.stalled.wait(), 30)
    first_run.cancel()  # the process dies mid-way
    await asyncio.gather(first_run, return_exceptions=True)
    assert 0 < await unsent(pg_pool, topic) < 60

    stop = asyncio.Event()
    second_run = asyncio.create_task(new_relay(settings, pg_pool).run(stop))
    try:
        await wait_until(lambda: _fewer_unsent(pg_pool, topic, 1))
    finally:
        stop.set()
        await asyncio.wait_for(second_run, 10)

    messages = await consume(settings, topic, set(ids))
    assert first_occurrences(messages) == ids  # every one, in recorded order, ids stable
    first = messages[0]
    assert first["type"] == "outreach.case.closed" and first["data"]["reason"] == "message 0"
    assert first["_headers"]["n"] == b"0"
    assert first["_headers"]["content-type"].startswith(b"application/cloudevents+json")
    assert first["_key"] == store.stream_key(f"relay-{unique}-0").encode()


class StallsMidway(Relay):
    """Once some of ``topic`` is marked sent, hangs (until cancelled) before marking more, like
    a process about to be killed. (Older unsent rows of other tests may come first.)"""

    def __init__(self, topic: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.topic = topic
        self.stalled = asyncio.Event()

    async def mark_sent(self, conn: PoolConnectionProxy[Any], positions: Sequence[int]) -> None:
        sent = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = $1 AND sent_at IS NOT NULL", self.topic
        )
        if sent >= 14:
            self.stalled.set()
            await asyncio.Event().wait()
        await super().mark_sent(conn, positions)


class CrashAfterSending(Relay):
    """Dies after Kafka acknowledged a batch but before it is marked sent."""

    async def mark_sent(self, conn: PoolConnectionProxy[Any], positions: Sequence[int]) -> None:
        raise ConnectionResetError("killed between send and mark")


async def test_a_crash_between_send_and_mark_only_duplicates(
    settings: Settings, store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    topic = f"outreach.test.{unique}"
    await create_topic(settings, topic)
    ids = await record_messages(store, topic, unique, 12)

    await drain_older(settings, pg_pool, topic)
    crashing = CrashAfterSending(
        pg_pool, settings.kafka_servers, keyring=load_keyring(settings), batch_size=5
    )
    async with pg_pool.acquire() as conn:
        producer = crashing._producer_factory()
        await producer.start()
        try:
            try:
                await crashing.publish_batch(conn, producer)
            except ConnectionResetError:
                pass
        finally:
            await producer.stop()
    assert await unsent(pg_pool, topic) == 12

    stop = asyncio.Event()
    running = asyncio.create_task(new_relay(settings, pg_pool).run(stop))
    try:
        await wait_until(lambda: _fewer_unsent(pg_pool, topic, 1))
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    messages = await consume(settings, topic, set(ids))
    assert first_occurrences(messages) == ids
    assert len(messages) > len(ids)  # the crashed batch came twice: same ids


async def drain_older(settings: Settings, pool: asyncpg.Pool, topic: str) -> None:
    """Publish other tests' unsent rows (they come first in order), leaving ``topic``'s."""

    async def others_left() -> bool:
        count = await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND topic <> $1", topic
        )
        return bool(count == 0)

    if await others_left():
        return
    stop = asyncio.Event()
    ours_held = await pool.fetch(
        "UPDATE outbox SET sent_at = 'epoch' WHERE topic = $1 AND sent_at IS NULL "
        "RETURNING position",
        topic,
    )
    running = asyncio.create_task(new_relay(settings, pool).run(stop))
    try:
        await wait_until(others_left)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await pool.execute(
            "UPDATE outbox SET sent_at = NULL WHERE position = ANY($1::bigint[])",
            [r["position"] for r in ours_held],
        )


async def _fewer_unsent(pool: asyncpg.Pool, topic: str, limit: int) -> bool:
    return await unsent(pool, topic) < limit

"""The outbox relay against real Postgres and the Kafka-protocol broker: restarts lose nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from asyncpg.pool import PoolConnectionProxy

from outreach.events.outbound import CaseClosed, Outcome, outbound_envelope
from outreach.infra.event_store import NO_STREAM, EventStore, NewEvent, OutboxMessage
from outreach.infra.relay import Relay
from outreach.infra.settings import Settings

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def create_topic(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def record_messages(store: EventStore, topic: str, unique: str, count: int) -> list[str]:
    """``count`` case-closed messages over 3 households, appended with their events."""
    ids: list[str] = []
    versions = [0, 0, 0]
    for i in range(count):
        h = i % 3
        stream = store.stream_key(f"relay-{unique}-{h}")
        event_id = uuid.uuid4()
        case_id = f"case-{unique}-{i}"
        envelope = outbound_envelope(
            CaseClosed(
                case_id=case_id,
                household_id=f"relay-{unique}-{h}",
                outcome=Outcome.NOT_ELIGIBLE,
                reason=f"message {i}",
            ),
            event_id=str(event_id),
            time=T0,
        )
        await store.append(
            stream,
            [NewEvent(event_id, "CaseClosed", {"case_id": case_id, "outcome": "x"}, T0)],
            versions[h] if versions[h] else NO_STREAM,
            outbox=[OutboxMessage(topic, str(event_id), envelope, headers={"n": str(i)})],
        )
        versions[h] += 1
        ids.append(str(event_id))
    return ids


async def unsent(pool: asyncpg.Pool, topic: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = $1 AND sent_at IS NULL", topic
        )
    )


async def wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def consume(settings: Settings, topic: str, want: set[str]) -> list[dict[str, Any]]:
    """Every message on the topic until each wanted id has been seen (no group: no join wait)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + 60
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning(TopicPartition(topic, 0))
        while not want <= {m["id"] for m in seen}:
            missing = len(want - {m["id"] for m in seen})
            assert asyncio.get_running_loop().time() < deadline, f"{missing} never arrived"
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            for records in batch.values():
                for record in records:
                    message = json.loads(record.value)
                    message["_headers"] = dict(record.headers)
                    message["_key"] = record.key
                    seen.append(message)
    finally:
        await consumer.stop()
    return seen


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

    relay = StallsMidway(topic, pg_pool, settings.kafka_servers, batch_size=7)
    first_run = asyncio.create_task(relay.run())
    await asyncio.wait_for(relay.stalled.wait(), 30)
    first_run.cancel()  # the process dies mid-way
    await asyncio.gather(first_run, return_exceptions=True)
    assert 0 < await unsent(pg_pool, topic) < 60

    stop = asyncio.Event()
    second_run = asyncio.create_task(Relay(pg_pool, settings.kafka_servers).run(stop))
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
    crashing = CrashAfterSending(pg_pool, settings.kafka_servers, batch_size=5)
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
    running = asyncio.create_task(Relay(pg_pool, settings.kafka_servers).run(stop))
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
    running = asyncio.create_task(Relay(pool, settings.kafka_servers).run(stop))
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

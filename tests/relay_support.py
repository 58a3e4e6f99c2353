"""Helpers for tests of the outbox relay (real Postgres and the Kafka-protocol broker)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from outreach.events.outbound import CaseClosed, Outcome, outbound_envelope
from outreach.infra.settings import Settings
from outreach.relay.outbox import Relay
from outreach.store.event_store import NO_STREAM, EventStore, NewEvent, OutboxMessage
from outreach.store.personal_data import load_keyring

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


def new_relay(settings: Settings, pool: asyncpg.Pool, **options: Any) -> Relay:
    """The session's relay (its keys open the sealed personal fields)."""
    return Relay(pool, settings.kafka_servers, keyring=load_keyring(settings), **options)


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

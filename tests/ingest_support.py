"""Helpers for the ingest tests: producing, reading topics, waiting, and a TCP proxy that can
simulate an outage of Postgres or Temporal without touching the shared session services."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from outreach.events import event_uuid, samples
from outreach.events.registry import REGISTRY
from outreach.infra.settings import Settings
from outreach.infra.temporal import connect
from outreach.ingest.app import IngestApp, build_ingest
from outreach.store.event_store import EventStore
from outreach.store.personal_data import load_keyring
from outreach.workflows.case_contract import TRIGGERS_QUERY, case_workflow_id
from tests.minimal_case import MinimalCase
from tests.support import free_port

T = TypeVar("T")


@dataclass
class Env:
    """A running ingest (own topic prefix, consumer group and task queue) with a Temporal
    worker running the stand-in case workflow, and handles on what it writes to."""

    settings: Settings
    prefix: str
    ingest: IngestApp
    client: Client
    pool: asyncpg.Pool
    store: EventStore

    def topic(self, name: str) -> str:
        return self.prefix + name

    def key(self, household_id: str) -> str:
        return self.store.stream_key(household_id)

    async def publish(self, *events: dict[str, Any], key: bytes | None = None) -> None:
        for event in events:
            topic = REGISTRY[event["type"]].topic
            await produce(self.settings, self.topic(topic), [samples.to_value(event)], key=key)


def household(tag: str) -> tuple[str, str]:
    """A fresh household id and a valid ID number for one test."""
    n = uuid.uuid4().int % 10_000_000
    return f"HH-T-{tag}-{uuid.uuid4().hex[:10]}", samples.id_number_for(n)


@contextlib.asynccontextmanager
async def running_ingest(
    settings: Settings, pool: asyncpg.Pool, **extra: Any
) -> AsyncIterator[Env]:
    """:class:`Env` for a test module; ``extra`` overrides settings (after :func:`fast`)."""
    token = uuid.uuid4().hex[:8]
    prefix, task_queue = f"t{token}.", f"ingest-test-{token}"
    ingest_settings = fast(settings, **extra)
    client = await connect(settings)
    store = EventStore(pool, load_keyring(settings), notify=False)
    async with Worker(client, task_queue=task_queue, workflows=[MinimalCase]):
        ingest = build_ingest(ingest_settings, topic_prefix=prefix, task_queue=task_queue)
        async with ingest:
            yield Env(ingest_settings, prefix, ingest, client, pool, store)


def fast(settings: Settings, **extra: Any) -> Settings:
    """Settings tuned for the embedded broker: short group timeouts, small batches, quick retry."""
    update: dict[str, Any] = {
        "kafka_session_timeout_ms": 6000,
        "kafka_heartbeat_interval_ms": 1000,
        "ingest_batch_timeout_ms": 100,
        "ingest_retry_window": 3.0,
        "ingest_group_id": f"ingest-{uuid.uuid4().hex[:8]}",
    }
    update.update(extra)
    return settings.model_copy(update=update)


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 60.0, interval: float = 0.2
) -> T:
    """Poll ``check`` until it returns a truthy value (returned) or raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)


async def produce(
    settings: Settings,
    topic: str,
    values: Iterable[bytes],
    *,
    key: bytes | None = None,
    partition: int | None = None,
    max_request_size: int = 1024 * 1024,
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_servers, acks="all", max_request_size=max_request_size
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


async def read_topic(
    settings: Settings, topic: str, *, at_least: int, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the beginning, once there are at least ``at_least``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await eventually(
            lambda: _partitions(consumer, topic), timeout=timeout, interval=0.5
        )
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        got: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(got) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                got.extend(records)
        # a little more, to see anything unexpected beyond the expected count
        for records in (await consumer.getmany(timeout_ms=300)).values():
            got.extend(records)
        return got
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int] | None:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or None


async def committed_offsets(
    settings: Settings, group: str, topics: Sequence[str]
) -> dict[tuple[str, int], int]:
    """The group's committed offsets (OffsetFetch through a consumer that does not join)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        result: dict[tuple[str, int], int] = {}
        for topic in topics:
            for partition in consumer.partitions_for_topic(topic) or set():
                offset = await consumer.committed(TopicPartition(topic, partition))
                if offset is not None:
                    result[(topic, partition)] = offset
        return result
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or set()
        ]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def all_committed(settings: Settings, group: str, topics: Sequence[str]) -> bool:
    """Every non-empty partition of ``topics`` is committed up to its end by ``group``."""
    committed = await committed_offsets(settings, group, topics)
    ends = await end_offsets(settings, topics)
    return all(committed.get(tp, 0) >= end for tp, end in ends.items() if end > 0)


async def stored_count(pool: asyncpg.Pool, events: Sequence[dict[str, Any]]) -> int:
    ids = [event_uuid(e["source"], e["id"]) for e in events]
    return int(
        await pool.fetchval("SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])", ids)
    )


async def triggers_of(client: Client, household_key: str) -> list[str] | None:
    """The trigger ids the household's case accepted, or None when it has no case."""
    handle = client.get_workflow_handle(case_workflow_id(household_key))
    try:
        result: list[str] = await handle.query(TRIGGERS_QUERY)
    except RPCError:
        return None
    return result


def uid(event: dict[str, Any]) -> str:
    return str(event_uuid(event["source"], event["id"]))


class TcpProxy:
    """Forwards a local port to ``target``; :meth:`cut` drops every connection and refuses new
    ones (the service looks down), :meth:`restore` accepts again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.cut()

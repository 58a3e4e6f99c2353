"""The shared fixtures reach real services: Postgres, the Kafka-protocol broker, Temporal."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outreach.infra.settings import Settings
from tests.conftest import test_server_path as _server_path


@workflow.defn(sandboxed=False)
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"你好, {name}"


@workflow.defn(sandboxed=False)
class SleepThirtyDays:
    @workflow.run
    async def run(self) -> float:
        start = workflow.now()
        await asyncio.sleep(timedelta(days=30).total_seconds())
        return (workflow.now() - start).total_seconds()


async def test_postgres_answers_a_query(pg_pool: asyncpg.Pool) -> None:
    assert await pg_pool.fetchval("SELECT 40 + 2") == 42
    # migrations ran on this session's database
    assert await pg_pool.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")


async def test_broker_round_trip_with_committed_offsets(settings: Settings) -> None:
    topic, group = f"t-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    servers = settings.kafka_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, f"message {i}".encode(), headers=[("n", b"%d" % i)])
    finally:
        await producer.stop()

    async def consume(n: int) -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Tansu drops a member that left only after its session timeout: keep it short
            # so the second member of the group does not wait the default 10 s.
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            while len(got) < n:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
                for records in batch.values():
                    got.extend(r.value for r in records if r.value is not None)
                if n == 0:
                    break
            await consumer.commit()
            committed = await consumer.committed(TopicPartition(topic, 0))
        finally:
            await consumer.stop()
        assert committed == 5
        return got

    assert await consume(5) == [f"message {i}".encode() for i in range(5)]
    # The group's committed offset holds: a new member of the group starts after it.
    assert await consume(0) == []


async def test_workflow_runs_on_dev_server(temporal_client: Client) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_client, task_queue=queue, workflows=[Greet]):
        result = await temporal_client.execute_workflow(
            Greet.run, "张家界", id=f"greet-{uuid.uuid4()}", task_queue=queue
        )
    assert result == "你好, 张家界"


async def test_time_skipping_server_sleeps_thirty_days() -> None:
    # A server of its own: on the session's shared one, a case test that ends while a regular
    # activity of its case is running leaves time locked for a while (the server skips no time
    # while an activity runs), and this auto-skipping wait would sit behind it.
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=_server_path())
    try:
        client = env.client
        queue = f"q-{uuid.uuid4().hex[:8]}"
        before = await env.get_current_time()
        async with Worker(client, task_queue=queue, workflows=[SleepThirtyDays]):
            slept = await client.execute_workflow(
                SleepThirtyDays.run, id=f"sleep-{uuid.uuid4()}", task_queue=queue
            )
        after = await env.get_current_time()
    finally:
        await env.shutdown()
    assert slept >= timedelta(days=30).total_seconds()
    assert after - before >= timedelta(days=30)

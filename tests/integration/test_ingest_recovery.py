"""Ingest under failure, on the real broker, Postgres and Temporal.

* A crash: ingest runs as a separate process and is killed with SIGKILL while a batch is stored
  but not yet delivered or committed; a new process finishes the work. Every event ends up
  stored exactly once and every trigger reaches its case exactly once, in order per household.
* Outages: ingest talks to Postgres and Temporal through TCP proxies that the test cuts (every
  connection dropped, new ones refused) and restores. Meanwhile nothing is dead-lettered and
  nothing is committed; afterwards everything is processed. (The shared session services keep
  running; only ingest's path to them breaks, which is what ingest can observe of an outage.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import Worker

from outreach.events import samples
from outreach.events.registry import REGISTRY
from outreach.events.topics import MEDICAL_TOPIC
from outreach.infra.settings import Settings
from outreach.infra.temporal import connect
from outreach.ingest.app import build_ingest
from outreach.store.event_store import EventStore
from outreach.store.personal_data import load_keyring
from tests.ingest_support import (
    TcpProxy,
    all_committed,
    committed_offsets,
    eventually,
    fast,
    produce,
    read_topic,
    stored_count,
    triggers_of,
    uid,
)
from tests.minimal_case import MinimalCase

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(scope="module")
async def client(settings: Settings) -> Client:
    return await connect(settings)


@pytest_asyncio.fixture
async def worker(client: Client) -> AsyncIterator[str]:
    task_queue = f"ingest-recovery-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[MinimalCase]):
        yield task_queue


def _events(households: int, per_household: int) -> list[dict[str, Any]]:
    """Case-opening events of three agencies, ``per_household`` for each household."""
    token = uuid.uuid4().hex[:8]
    builders = (samples.certificate_issued, samples.settlement_recorded, samples.household_listed)
    out = []
    for n in range(per_household):
        for h in range(households):
            out.append(
                builders[(n + h) % 3](
                    household_id=f"HH-R-{token}-{h:04d}",
                    id_number=samples.id_number_for(h),
                    event_id=f"{token}-{h}-{n}",
                )
            )
    return out


async def _publish_keyed(settings: Settings, prefix: str, events: list[dict[str, Any]]) -> None:
    """Keyed by household, so one household's events share a partition (and an order)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            topic = prefix + REGISTRY[event["type"]].topic
            key = event["data"]["household"]["household_id"].encode()
            await producer.send_and_wait(topic, samples.to_value(event), key=key)
    finally:
        await producer.stop()


def _runner_env(settings: Settings) -> dict[str, str]:
    return settings.process_env(
        OUTREACH_KAFKA_SESSION_TIMEOUT_MS=str(settings.kafka_session_timeout_ms),
        OUTREACH_KAFKA_HEARTBEAT_INTERVAL_MS=str(settings.kafka_heartbeat_interval_ms),
        OUTREACH_INGEST_GROUP_ID=settings.ingest_group_id,
        OUTREACH_INGEST_BATCH_SIZE=str(settings.ingest_batch_size),
        OUTREACH_INGEST_BATCH_TIMEOUT_MS=str(settings.ingest_batch_timeout_ms),
        OUTREACH_LOG_LEVEL="WARNING",
    )


def _start_runner(
    settings: Settings, prefix: str, task_queue: str, slow: float, log: Path
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.ingest_runner", prefix, task_queue, str(slow)],
            cwd=ROOT,
            env=_runner_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_killing_ingest_mid_batch_and_restarting_stores_every_event_exactly_once(
    settings: Settings, pg_pool: asyncpg.Pool, client: Client, worker: str, tmp_path: Path
) -> None:
    prefix = f"k{uuid.uuid4().hex[:8]}."
    run_settings = fast(settings, ingest_batch_size=20)
    households, per_household = 15, 8
    events = _events(households, per_household)
    await _publish_keyed(settings, prefix, events)
    topics = [prefix + t for t in sorted({REGISTRY[e["type"]].topic for e in events})]
    log = tmp_path / "ingest.log"

    first = _start_runner(run_settings, prefix, worker, slow=1.5, log=log)
    try:
        # wait until at least one batch is stored, then kill while its delivery is pending
        await eventually(lambda: _at_least(stored_count(pg_pool, events), 20), timeout=90)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        _stop(first, signal.SIGKILL)
    stored_at_kill = await stored_count(pg_pool, events)
    committed_at_kill = sum(
        (await committed_offsets(settings, run_settings.ingest_group_id, topics)).values()
    )
    assert stored_at_kill > committed_at_kill, "the kill must land between store and commit"
    assert stored_at_kill < len(events), "the kill must come before the end"

    second = _start_runner(run_settings, prefix, worker, slow=0, log=log)
    try:
        await eventually(
            lambda: all_committed(settings, run_settings.ingest_group_id, topics), timeout=120
        )
    finally:
        _stop(second)

    # stored exactly once: one row per event, each stream numbered 1..n without gaps
    store = EventStore(pg_pool, load_keyring(settings), notify=False)
    assert await stored_count(pg_pool, events) == len(events)
    for h in range(households):
        household_id = events[h]["data"]["household"]["household_id"]
        mine = [e for e in events if e["data"]["household"]["household_id"] == household_id]
        key = store.stream_key(household_id)
        rows = await pg_pool.fetch(
            "SELECT event_id, version FROM events WHERE stream = $1 ORDER BY version", key
        )
        assert [r["version"] for r in rows] == list(range(1, per_household + 1))
        stored = [str(r["event_id"]) for r in rows]
        triggers = await triggers_of(client, key)
        assert triggers is not None
        # every trigger reached the one case, once; one agency's events (one partition,
        # keyed by household) in the order they were published; agencies interleave freely
        assert sorted(stored) == sorted(triggers) == sorted(uid(e) for e in mine)
        for event_type in {e["type"] for e in mine}:
            published = [uid(e) for e in mine if e["type"] == event_type]
            assert [i for i in stored if i in published] == published
            assert [i for i in triggers if i in published] == published


async def test_a_postgres_outage_is_retried_not_dead_lettered(
    settings: Settings, pg_pool: asyncpg.Pool, client: Client, worker: str
) -> None:
    host, port = settings.postgres_dsn.rsplit("@", 1)[1].split("/", 1)[0].rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    dsn = settings.postgres_dsn.replace(f"{host}:{port}", proxy.address)
    await _outage_scenario(
        fast(settings, database_url=dsn), pg_pool, client, worker, proxy, what="postgres"
    )


async def test_a_temporal_outage_is_retried_not_dead_lettered(
    settings: Settings, pg_pool: asyncpg.Pool, client: Client, worker: str
) -> None:
    host, port = settings.temporal_target.rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    await _outage_scenario(
        fast(settings, temporal_address=proxy.address),
        pg_pool,
        client,
        worker,
        proxy,
        what="temporal",
    )


async def _outage_scenario(
    run_settings: Settings,
    pg_pool: asyncpg.Pool,
    client: Client,
    task_queue: str,
    proxy: TcpProxy,
    *,
    what: str,
) -> None:
    prefix = f"o{uuid.uuid4().hex[:8]}."
    topic = prefix + MEDICAL_TOPIC
    store = EventStore(pg_pool, load_keyring(run_settings), notify=False)
    token = uuid.uuid4().hex[:8]
    hh = f"HH-O-{token}"
    first, during = (
        samples.settlement_recorded(household_id=hh, event_id=f"{token}-{n}") for n in (1, 2)
    )
    bad = b'{"not": "a cloudevent"'
    key = store.stream_key(hh)
    ingest = build_ingest(run_settings, topic_prefix=prefix, task_queue=task_queue)
    try:
        async with ingest:
            await produce(run_settings, topic, [samples.to_value(first)], partition=0)
            await eventually(lambda: triggers_of(client, key))
            committed = await committed_offsets(run_settings, run_settings.ingest_group_id, [topic])
            assert committed[(topic, 0)] == 1

            await proxy.cut()
            await produce(run_settings, topic, [samples.to_value(during), bad], partition=0)
            await asyncio.sleep(2 * run_settings.ingest_retry_window + 1)  # retried, rewound
            assert ingest.stats.batches == 1, "no batch completes during the outage"
            if what == "postgres":  # (temporalio also retries inside the client, for longer)
                assert ingest.stats.failed_batches >= 1, "the batch was rewound and re-read"
            if what == "postgres":
                assert await stored_count(pg_pool, [during]) == 0
            else:  # stored, but the case has not accepted it: not committed
                assert await stored_count(pg_pool, [during]) == 1
                assert await triggers_of(client, key) == [uid(first)]
            committed = await committed_offsets(run_settings, run_settings.ingest_group_id, [topic])
            assert committed[(topic, 0)] == 1, "nothing is committed during the outage"
            dead = await read_topic(run_settings, ingest.deadletter_topic, at_least=0, timeout=2)
            assert samples.to_value(during) not in [r.value for r in dead]

            await proxy.restore()
            triggers = await eventually(lambda: _at_least_len(triggers_of(client, key), 2))
            assert triggers == [uid(first), uid(during)]
            await eventually(
                lambda: all_committed(run_settings, run_settings.ingest_group_id, [topic])
            )
            dead = await read_topic(run_settings, ingest.deadletter_topic, at_least=1)
            values = [r.value for r in dead]
            assert bad in values and samples.to_value(during) not in values
            assert await stored_count(pg_pool, [first, during]) == 2
    finally:
        await proxy.close()


async def _at_least(value: Any, n: int) -> bool:
    return bool(await value >= n)


async def _at_least_len(value: Any, n: int) -> Any:
    got = await value
    return got if got is not None and len(got) >= n else None

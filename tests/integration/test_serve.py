"""``outreach serve``: every part in one process on the real services; a failing part stops it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client
from temporalio.service import RPCError

from outreach.events import samples as s
from outreach.events.topics import DISABILITY_TOPIC, INBOUND_TOPICS
from outreach.infra.access import create_token
from outreach.infra.event_store import EventStore
from outreach.infra.ingest import ensure_topics
from outreach.infra.serve import ServeError, serve
from outreach.infra.settings import Settings
from outreach.workflows.case_api import case_workflow_id
from tests.support import free_port


def _serve_settings(settings: Settings, unique: str, port: int) -> Settings:
    return settings.model_copy(
        update={
            "api_port": port,
            "ingest_group_id": f"serve-{unique}",
            "kafka_session_timeout_ms": 6000,
            "kafka_heartbeat_interval_ms": 1000,
        }
    )


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout}s")


async def test_serve_runs_every_part_and_stops_cleanly(
    settings: Settings,
    pg_pool: asyncpg.Pool,
    store: EventStore,
    temporal_client: Client,
    unique: str,
) -> None:
    port = free_port()
    config = _serve_settings(settings, unique, port)
    prefix = f"serve-{unique}."
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(
        serve(
            config,
            stop,
            topic_prefix=prefix,
            task_queue=f"serve-{unique}",
            review_schedule=False,
            api_ready=ready,
        )
    )
    household_id = f"HH-430802-{unique}"
    key = store.stream_key(household_id)
    try:
        await asyncio.wait_for(ready.wait(), 60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}

            # one agency event in: ingest stores it and opens the case, the worker runs it,
            # the projections show it, and the API answers for it
            event = s.certificate_issued(household_id=household_id, event_id=f"serve-{unique}")
            await ensure_topics(
                config.kafka_servers, [prefix + t for t in INBOUND_TOPICS], partitions=1
            )
            producer = AIOKafkaProducer(bootstrap_servers=config.kafka_servers)
            await producer.start()
            try:
                await producer.send_and_wait(prefix + DISABILITY_TOPIC, s.to_value(event))
            finally:
                await producer.stop()

            async def case_in_visit() -> bool:
                stage = await pg_pool.fetchval("SELECT stage FROM cases WHERE household = $1", key)
                return bool(stage == "visit")

            await _until(case_in_visit, "the case open and waiting for its visit")
            token, _ = await create_token(pg_pool, role="ops", name=f"serve test {unique}")
            answer = await http.get(
                "/api/cases",
                params={"household_id": household_id},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200
            [case] = answer.json()["cases"]
            assert case["district"] == "yongding" and case["status"] == "open"
            assert "disability_nursing_subsidy" in case["programmes"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)  # returns normally: a clean stop
        with contextlib.suppress(RPCError):  # the case would wait for a visit forever
            handle = temporal_client.get_workflow_handle(case_workflow_id(key))
            await handle.terminate("test finished")
    assert running.result() is None


async def test_a_part_that_cannot_start_stops_the_others(settings: Settings, unique: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stop = asyncio.Event()
        with pytest.raises(ServeError) as caught:
            await asyncio.wait_for(
                serve(
                    _serve_settings(settings, unique, port),
                    stop,
                    topic_prefix=f"serve-{unique}.",
                    task_queue=f"serve-{unique}",
                    review_schedule=False,
                ),
                90,
            )
    assert [f.name for f in caught.value.failures] == ["api"]
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert stop.is_set()

"""``outreach serve``: every part in one process on the real services; a failing part stops it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client
from temporalio.service import RPCError

from outreach.cases.access import create_token
from outreach.cli.supervisor import ServeError, serve
from outreach.events import samples as s
from outreach.events.topics import DISABILITY_TOPIC, INBOUND_TOPICS
from outreach.infra.health import Unhealthy
from outreach.infra.settings import Settings
from outreach.infra.stack import EmbeddedPostgres
from outreach.ingest.app import ensure_topics
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import case_workflow_id
from tests.ingest_support import TcpProxy
from tests.support import free_port, stack_settings


def _serve_settings(settings: Settings, unique: str, port: int) -> Settings:
    return settings.model_copy(
        update={
            "api_port": port,
            "ingest_group_id": f"serve-{unique}",
            "kafka_session_timeout_ms": 6000,
            "kafka_heartbeat_interval_ms": 1000,
        }
    )


def _start_serve(
    config: Settings, stop: asyncio.Event, ready: asyncio.Event, unique: str
) -> asyncio.Task[None]:
    """``serve`` on this test's topic prefix (``serve-<unique>.``) and task queue, as a task;
    ``ready`` is set once its API listens."""
    return asyncio.create_task(
        serve(
            config,
            stop,
            topic_prefix=f"serve-{unique}.",
            task_queue=f"serve-{unique}",
            review_schedule=False,
            api_ready=ready,
        )
    )


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout}s")


async def _case_through_every_part(
    config: Settings, prefix: str, household_id: str, key: str, pg_pool: asyncpg.Pool
) -> None:
    """Publish a certificate for ``household_id``; return once the cases projection shows its
    case waiting for the visit (ingest, the worker and the projections each played a part)."""
    event = s.certificate_issued(household_id=household_id, event_id=f"serve-{household_id}")
    await ensure_topics(config.kafka_servers, [prefix + t for t in INBOUND_TOPICS], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=config.kafka_servers)
    await producer.start()
    try:
        await producer.send_and_wait(prefix + DISABILITY_TOPIC, s.to_value(event))
    finally:
        await producer.stop()

    async def case_in_visit() -> bool:
        stage = await pg_pool.fetchval("SELECT stage FROM cases WHERE household = $1", key)
        return bool(stage == "visit")

    await _until(case_in_visit, "the case open and waiting for its visit", timeout=90)


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
    running = _start_serve(config, stop, ready, unique)
    household_id = f"HH-430802-{unique}"
    key = store.stream_key(household_id)
    try:
        await asyncio.wait_for(ready.wait(), 60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}

            # one agency event in: ingest stores it and opens the case, the worker runs it,
            # the projections show it, and the API answers for it
            await _case_through_every_part(config, prefix, household_id, key, pg_pool)
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


class _Outage:
    """A way to take a service away from ``serve`` and give it back."""

    async def down(self) -> None: ...

    async def up(self) -> None: ...

    async def close(self) -> None: ...


class _Cut(_Outage):
    """Every connection through a TCP proxy dropped, new ones refused (as a host going away)."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy

    async def down(self) -> None:
        await self.proxy.cut()

    async def up(self) -> None:
        await self.proxy.restore()

    async def close(self) -> None:
        await self.proxy.close()


class _Restart(_Outage):
    """A real restart of a private embedded PostgreSQL: a fast shutdown (sessions terminated
    with an admin-shutdown error, "the database system is shutting down" meanwhile)."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pg = pg

    async def down(self) -> None:
        await asyncio.to_thread(self.pg.stop)

    async def up(self) -> None:
        await asyncio.to_thread(self.pg.start)
        await _until(self._answers, "postgres answering again", timeout=60)

    async def _answers(self) -> bool:
        try:
            await self.pg.check()
        except Unhealthy:
            return False
        return True

    async def close(self) -> None:
        await asyncio.to_thread(self.pg.stop)


async def _outage(
    service: str, config: Settings, tmp_path: Path
) -> tuple[Settings, _Outage, asyncpg.Pool | None]:
    """``config`` pointed at ``service`` through something the test can take down, and a pool
    on serve's database when it is not the session's."""
    if service == "postgres-restart":
        pg = EmbeddedPostgres(stack_settings(tmp_path))
        restart = _Restart(pg)
        await asyncio.to_thread(pg.start)
        await _until(restart._answers, "the private postgres answering", timeout=60)
        await pg.after_healthy()
        dsn = f"postgresql://postgres@{pg.address}/outreach"
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        return config.model_copy(update={"database_url": dsn}), restart, pool
    if service == "postgres":
        host, pg_port = config.postgres_dsn.rsplit("@", 1)[1].split("/", 1)[0].rsplit(":", 1)
        proxy = await TcpProxy(host, int(pg_port)).start()
        dsn = config.postgres_dsn.replace(f"{host}:{pg_port}", proxy.address)
        return config.model_copy(update={"database_url": dsn}), _Cut(proxy), None
    host, temporal_port = config.temporal_target.rsplit(":", 1)
    proxy = await TcpProxy(host, int(temporal_port)).start()
    return config.model_copy(update={"temporal_address": proxy.address}), _Cut(proxy), None


@pytest.mark.parametrize("service", ["postgres-restart", "postgres", "temporal"])
async def test_serve_rides_through_a_restart(
    settings: Settings,
    pg_pool: asyncpg.Pool,
    store: EventStore,
    temporal_client: Client,
    unique: str,
    service: str,
    tmp_path: Path,
) -> None:
    """Regression (poison input #7): ``serve`` exited 20 ms after a fast shutdown of Postgres
    (``projections: InterfaceError: cannot call Connection.is_closed(): connection has been
    released back to the pool``). The service goes away twice (a real Postgres restart, or
    every connection cut and refused for a while), the second time while the parts are still
    recovering; serve keeps running and handles a case afterwards."""
    config, outage, own_pool = await _outage(
        service, _serve_settings(settings, unique, free_port()), tmp_path
    )
    db = own_pool or pg_pool
    prefix = f"serve-{unique}."
    stop, ready = asyncio.Event(), asyncio.Event()
    running = _start_serve(config, stop, ready, unique)
    before, after = f"HH-430802-{unique}-a", f"HH-430802-{unique}-b"
    try:
        await asyncio.wait_for(ready.wait(), 60)
        await _case_through_every_part(config, prefix, before, store.stream_key(before), db)
        for _ in range(2):
            await outage.down()
            await asyncio.sleep(3)
            assert not running.done(), running.exception()
            await outage.up()
            await asyncio.sleep(1)
        await _case_through_every_part(config, prefix, after, store.stream_key(after), db)
        assert not running.done()
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running, 60)
        if own_pool is not None:
            await own_pool.close()
        await outage.close()
        for household in (before, after):
            with contextlib.suppress(RPCError):
                handle = temporal_client.get_workflow_handle(
                    case_workflow_id(store.stream_key(household))
                )
                await handle.terminate("test finished")
    assert running.result() is None


@pytest.mark.parametrize(
    ("service", "failed"), [("postgres", {"projections", "relay"}), ("temporal", {"worker"})]
)
async def test_a_part_that_does_not_recover_fails_serve_after_the_timeout(
    settings: Settings,
    pg_pool: asyncpg.Pool,
    store: EventStore,
    temporal_client: Client,
    unique: str,
    service: str,
    failed: set[str],
    tmp_path: Path,
) -> None:
    """``OUTREACH_PART_RECOVERY_TIMEOUT`` seconds without the service: serve fails, naming a
    part that did not recover (and not before)."""
    config = _serve_settings(settings, unique, free_port()).model_copy(
        update={"part_recovery_timeout": 4.0, "ingest_retry_window": 2.0}
    )
    config, outage, _ = await _outage(service, config, tmp_path)
    prefix = f"serve-{unique}."
    stop, ready = asyncio.Event(), asyncio.Event()
    running = _start_serve(config, stop, ready, unique)
    household = f"HH-430802-{unique}"
    try:
        await asyncio.wait_for(ready.wait(), 60)
        # every part has started (an outage during start-up is another matter)
        await _case_through_every_part(
            config, prefix, household, store.stream_key(household), pg_pool
        )
        await outage.down()
        began = time.monotonic()
        with pytest.raises(ServeError) as caught:
            await asyncio.wait_for(asyncio.shield(running), 90)
        assert time.monotonic() - began > 4.0, f"not before the recovery timeout: {caught.value}"
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running, 60)
        await outage.close()
        with contextlib.suppress(RPCError):
            handle = temporal_client.get_workflow_handle(
                case_workflow_id(store.stream_key(household))
            )
            await handle.terminate("test finished")
    names = {f.name for f in caught.value.failures}
    assert names & failed, caught.value
    assert "not recover" in str(caught.value), caught.value

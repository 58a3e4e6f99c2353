"""Health checks that make a real request to each backing service (not a port probe).

Each check returns a short human-readable detail on success and raises on failure. They are used
by ``outreach stack up|status`` and by the service's own health endpoint.
"""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import timedelta

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client


class Unhealthy(RuntimeError):
    """A service did not answer as expected."""


async def check_postgres(dsn: str, timeout: float = 5.0) -> str:
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except Exception as exc:
        raise Unhealthy(f"postgres: cannot connect: {exc}") from exc
    try:
        version = await conn.fetchval("SELECT current_setting('server_version')", timeout=timeout)
    finally:
        await conn.close()
    return f"PostgreSQL {version}"


async def check_kafka(bootstrap_servers: str, timeout: float = 5.0) -> str:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
    except Exception as exc:
        raise Unhealthy(f"kafka: no metadata from {bootstrap_servers}: {exc!r}") from exc
    finally:
        await admin.close()
    brokers = cluster.get("brokers", [])
    return f"Kafka protocol, {len(brokers)} broker(s), cluster {cluster.get('cluster_id')}"


async def check_temporal(target: str, namespace: str, timeout: float = 5.0) -> str:
    try:
        client = await asyncio.wait_for(Client.connect(target, namespace=namespace), timeout)
        ok = await client.service_client.check_health(timeout=timedelta(seconds=timeout))
    except Exception as exc:
        raise Unhealthy(f"temporal: no answer from {target}: {exc!r}") from exc
    if not ok:
        raise Unhealthy(f"temporal: {target} reports not serving")
    info = await client.workflow_service.get_system_info(
        GetSystemInfoRequest(), timeout=timedelta(seconds=timeout)
    )
    return f"Temporal server {info.server_version}, namespace {namespace}"


async def check_http(url: str, timeout: float = 5.0) -> str:
    def get() -> int:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)

    try:
        status = await asyncio.to_thread(get)
    except Exception as exc:
        raise Unhealthy(f"http: {url}: {exc}") from exc
    if status >= 400:
        raise Unhealthy(f"http: {url} answered {status}")
    return f"HTTP {status}"

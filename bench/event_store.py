"""Event store append throughput against plain asyncpg inserts, measured in the same run.

    python bench/event_store.py [--events 20000] [--batch 100] [--singles 4000] [--writers 8]

* batched: ``--writers`` tasks append ``--events`` events in batches of ``--batch`` (each batch
  one ``EventStore.append`` with an expected version, personal fields encrypted), against the
  same rows written with ``executemany`` (one transaction per batch) into a table with no
  constraints or indexes.
* single: ``--writers`` tasks append ``--singles`` events one per append, against single-row
  ``INSERT``s, each its own (autocommit) transaction: one round trip, the fastest way to write
  a row durably, so the strictest baseline.

Uses ``DATABASE_URL`` when set (in a scratch database it creates and drops), else starts an
embedded PostgreSQL with the project's stack code in a temporary directory and stops it after.
Each phase runs ``--rounds`` times alternating ours and the baseline; the median is reported.
The last line is one JSON object with every figure, including ``batch_ratio`` and
``single_ratio`` (ours / baseline; higher is better, 1.0 = as fast as the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outreach.infra.settings import load_settings
from outreach.infra.stack import Stack
from outreach.store.event_store import EventStore, NewEvent, dumps
from outreach.store.migrations import migrate_dsn
from outreach.store.personal_data import KeyRing

BASELINE_TABLE = """
CREATE TABLE bench_plain (
    position bigint, event_id uuid, stream text, version bigint, type text,
    schema_version integer, data jsonb, metadata jsonb, occurred_at timestamptz,
    recorded_at timestamptz DEFAULT now()
)
"""
BASELINE_INSERT = (
    "INSERT INTO bench_plain (position, event_id, stream, version, type, schema_version, data,"
    " metadata, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


def make_event(writer: int, n: int) -> NewEvent:
    """A domain event of realistic size (~300 bytes of JSON) with a few personal fields."""
    return NewEvent(
        uuid.uuid4(),
        "VisitCompleted",
        {
            "case_id": f"case-{writer}-{n // 10}",
            "task_id": f"task-{n}",
            "found": True,
            "household_size": 3,
            "monthly_income_total": "1850.00",
            "labor_capacity": "partial",
            "notes": "visited; documents checked; consent given",
            "personal": {"name": "王芳", "phone": "13800000000", "address": "永定区 1 号"},
        },
        datetime.now(UTC),
        causation_id=str(uuid.uuid4()),
        correlation_id=f"case-{writer}-{n // 10}",
        source="/outreach",
    )


def baseline_row(stream: str, version: int, e: NewEvent) -> tuple[Any, ...]:
    return (
        version,
        e.event_id,
        stream,
        version,
        e.type,
        e.schema_version,
        dumps(dict(e.data)),
        dumps(e.metadata()),
        e.occurred_at,
    )


async def run_writers(writers: int, work: Callable[[int], Awaitable[int]]) -> float:
    """Run ``work(writer)`` in ``writers`` tasks; returns events per second."""
    started = time.perf_counter()
    counts = await asyncio.gather(*(work(w) for w in range(writers)))
    return sum(counts) / (time.perf_counter() - started)


async def ours_batched(store: EventStore, writers: int, total: int, batch: int) -> float:
    per_writer = total // writers
    tag = uuid.uuid4().hex[:8]

    async def work(w: int) -> int:
        versions: dict[str, int] = {}
        for start in range(0, per_writer, batch):
            stream = store.stream_key(f"bench-{tag}-{w}-{start // batch % 16}")
            events = [make_event(w, start + i) for i in range(min(batch, per_writer - start))]
            result = await store.append(stream, events, versions.get(stream, 0))
            versions[stream] = result.version
        return per_writer

    return await run_writers(writers, work)


async def plain_batched(pool: asyncpg.Pool, writers: int, total: int, batch: int) -> float:
    per_writer = total // writers

    async def work(w: int) -> int:
        for start in range(0, per_writer, batch):
            stream = f"bench-{w}-{start // batch % 16}"
            count = min(batch, per_writer - start)
            rows = [baseline_row(stream, start + i, make_event(w, start + i)) for i in range(count)]
            async with pool.acquire() as conn:
                await conn.executemany(BASELINE_INSERT, rows)
        return per_writer

    return await run_writers(writers, work)


async def ours_single(store: EventStore, writers: int, total: int) -> float:
    per_writer = total // writers
    tag = uuid.uuid4().hex[:8]

    async def work(w: int) -> int:
        versions: dict[str, int] = {}
        for n in range(per_writer):
            stream = store.stream_key(f"single-{tag}-{w}-{n % 16}")
            result = await store.append(stream, [make_event(w, n)], versions.get(stream, 0))
            versions[stream] = result.version
        return per_writer

    return await run_writers(writers, work)


async def plain_single(pool: asyncpg.Pool, writers: int, total: int) -> float:
    per_writer = total // writers

    async def work(w: int) -> int:
        for n in range(per_writer):
            row = baseline_row(f"single-{w}-{n % 16}", n, make_event(w, n))
            async with pool.acquire() as conn:
                await conn.execute(BASELINE_INSERT, *row)  # autocommit: its own transaction
        return per_writer

    return await run_writers(writers, work)


@asynccontextmanager
async def database() -> AsyncIterator[tuple[str, str]]:
    """(dsn of a scratch database, where it runs); everything started here is stopped after."""
    settings = load_settings()
    stack: Stack | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if settings.embedded_postgres:
        tmp = tempfile.TemporaryDirectory(prefix="outreach-bench-")
        settings = load_settings(
            OUTREACH_STATE_DIR=Path(tmp.name), OUTREACH_POSTGRES_PORT=_free_port()
        )
        stack = Stack(settings)
        # Only the database matters here: leave Temporal and Kafka alone.
        stack.embedded = [s for s in stack.embedded if s.name == "postgres"]
        stack.external = []
        await stack.up(timeout=120)
    admin_dsn = settings.postgres_dsn
    name = f"outreach_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield (
            admin_dsn.rsplit("/", 1)[0] + "/" + name,
            ("embedded PostgreSQL" if stack else "DATABASE_URL"),
        )
    finally:
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if stack is not None:
            await stack.down()
        if tmp is not None:
            tmp.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with database() as (dsn, where):
        await migrate_dsn(dsn)
        pool = await asyncpg.create_pool(dsn, min_size=args.writers, max_size=args.writers + 2)
        assert pool is not None
        await pool.execute(BASELINE_TABLE)
        store = EventStore(pool, KeyRing(os.urandom(32), os.urandom(32)))
        server = await pool.fetchval("SHOW server_version")
        print(f"PostgreSQL {server} ({where}), {os.cpu_count()} CPUs, {args.writers} writers")
        figures: dict[str, list[float]] = {k: [] for k in ("ours_b", "base_b", "ours_s", "base_s")}
        # warm-up: prepared statements, pools, caches
        await ours_single(store, args.writers, args.writers * 10)
        await plain_single(pool, args.writers, args.writers * 10)
        for _ in range(args.rounds):
            figures["ours_b"].append(
                await ours_batched(store, args.writers, args.events, args.batch)
            )
            figures["base_b"].append(
                await plain_batched(pool, args.writers, args.events, args.batch)
            )
            figures["ours_s"].append(await ours_single(store, args.writers, args.singles))
            figures["base_s"].append(await plain_single(pool, args.writers, args.singles))
        await store.close()
        await pool.close()
    med = {k: statistics.median(v) for k, v in figures.items()}
    result = {
        "events": args.events,
        "batch_size": args.batch,
        "singles": args.singles,
        "writers": args.writers,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "batch_events_per_s": round(med["ours_b"]),
        "batch_baseline_events_per_s": round(med["base_b"]),
        "batch_ratio": round(med["ours_b"] / med["base_b"], 3),
        "single_events_per_s": round(med["ours_s"]),
        "single_baseline_events_per_s": round(med["base_s"]),
        "single_ratio": round(med["ours_s"] / med["base_s"], 3),
    }
    print(
        f"batched ({args.batch}/append): ours {result['batch_events_per_s']:>8} ev/s   "
        f"executemany {result['batch_baseline_events_per_s']:>8} ev/s   "
        f"ratio {result['batch_ratio']}"
    )
    print(
        f"single (1/append):       ours {result['single_events_per_s']:>8} ev/s   "
        f"INSERT/tx   {result['single_baseline_events_per_s']:>8} ev/s   "
        f"ratio {result['single_ratio']}"
    )
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events, batched phase")
    parser.add_argument("--batch", type=int, default=100, help="events per append, batched")
    parser.add_argument("--singles", type=int, default=4_000, help="events, single phase")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (median reported)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    outcome = asyncio.run(main(parse_args()))
    print(json.dumps(outcome))

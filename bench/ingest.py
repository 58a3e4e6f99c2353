"""Ingest throughput end to end, against two baselines measured in the same run.

    python bench/ingest.py [--events 1200] [--households 400] [--facts 10000] [--batch 500]

Starts its own embedded stack (Temporal dev server, Tansu, PostgreSQL) on free ports in a
temporary directory and stops it at the end. Phases, each on topics of its own:

* **cases (ours)**: ``--events`` case-opening agency events (certificates, hospital bills,
  monitoring listings, in turn) over ``--households`` households are published, then ingest
  runs: validate, store (one transaction per batch, personal fields encrypted), signal-with-start
  each household's case, commit. Timed from the first batch reaching the handler until every
  event is stored and delivered to its case.
* **baseline (b)**: bare Temporal: the same number of signal-with-starts of the same triggers
  to ``--households`` trivial workflows, per household in order, with the same concurrency limit
  as ingest (``OUTREACH_INGEST_SIGNAL_CONCURRENCY``); no Kafka, no validation, no database.
* **facts (ours)**: ``--facts`` ``facts.household.reported`` events: validated, stored and
  projected into ``household_facts`` (``outreach projections run`` in its own process, as
  deployed), no workflow. Timed from the first batch until the projection has applied the last
  of them; the time until ingest has stored them all is reported too.
* **baseline (a)**: raw aiokafka consume of the same facts payloads and asyncpg ``executemany``
  of them into a plain jsonb table, commit per batch; no validation, no event store, no
  workflow. Timed from the first record received until the last is inserted and committed.

Cases run on a worker in this process with the stand-in workflow
(``tests.minimal_case``: records triggers, nothing else) for ours and (b) alike, so
the figure measures ingest, not case logic. Consumer-group joins (seconds on Tansu) are outside
the timings for ours and (a) alike. Each side runs twice, alternating with the other, on topics
of its own, and its faster run counts (every run is in the JSON too). Prints ours, the
baselines and the ratios; the last line is
one JSON object with every figure, including ``facts_ratio`` (facts vs a) and ``cases_ratio``
(cases vs b); higher is better, 1.0 = as fast as the baseline.

For the facts runs and baseline (a) it also prints where the CPU went, in microseconds per event
over the timed window (of the run that counts): this process (ingest, or the raw consumer), the
projection process, PostgreSQL (every backend and helper process), the Kafka broker, and the rest
of the machine. Everything runs on one machine, so a side's events/s can be no more than the
machine's cores divided by its CPU per event; these figures say how far a side is from that
ceiling and which part would have to shrink.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outreach.events import event_uuid, parse_inbound, samples
from outreach.events.registry import REGISTRY
from outreach.events.topics import FACTS_TOPIC
from outreach.infra.log import configure_logging
from outreach.infra.settings import Settings, load_settings
from outreach.infra.stack import Stack
from outreach.infra.temporal import connect
from outreach.ingest.app import build_ingest, ensure_topics
from outreach.ingest.case_signals import CaseSignal, CaseSignaller
from outreach.ingest.triggers import trigger_for
from outreach.projections import HouseholdFactsProjection
from outreach.store.event_store import EventStore
from outreach.store.migrations import migrate_dsn
from outreach.store.personal_data import load_keyring
from tests.minimal_case import MinimalCase

ROOT = Path(__file__).resolve().parent.parent
CASE_BUILDERS = (samples.certificate_issued, samples.settlement_recorded, samples.household_listed)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def case_events(n: int, households: int, token: str) -> list[dict[str, Any]]:
    return [
        CASE_BUILDERS[i % 3](
            household_id=f"HH-B-{token}-{i % households:06d}",
            id_number=samples.id_number_for(i % households),
            event_id=f"{token}-c-{i}",
        )
        for i in range(n)
    ]


def fact_events(n: int, households: int, token: str) -> list[dict[str, Any]]:
    kinds = ("income", "vehicle", "real_estate", "pension")
    return [
        samples.fact_reported(
            household_id=f"HH-F-{token}-{i % households:06d}",
            id_number=samples.id_number_for(i % households),
            kind=kinds[i % 4],
            amount=1000 + i,
            event_id=f"{token}-f-{i}",
        )
        for i in range(n)
    ]


async def publish(settings: Settings, prefix: str, events: Sequence[dict[str, Any]]) -> None:
    """Publish as an agency would (no key), in bulk; not timed."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_servers, acks="all", linger_ms=5, max_batch_size=256_000
    )
    await producer.start()
    try:
        pending = [
            await producer.send(prefix + REGISTRY[e["type"]].topic, samples.to_value(e))
            for e in events
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


# -- CPU per part -------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used so far by each part of a run; two samples' difference is a window's.

    ``services`` are the embedded stack's processes by name (their exited children, such as
    PostgreSQL backends, included); ``machine`` is every process of the machine, so ``other`` is
    what none of the named parts used (the Temporal server, the OS, other tenants).
    """

    def __init__(self, services: dict[str, int | None]) -> None:
        self._services = {
            name: psutil.Process(pid) for name, pid in services.items() if pid is not None
        }

    def sample(self, **processes: int | None) -> dict[str, float]:
        """CPU seconds per part now; ``processes`` adds parts (e.g. the projection process)."""
        # this process and ``processes`` alone: the stack's services may be their children
        parts = {"bench": _own_seconds(psutil.Process())}
        for name, pid in processes.items():
            if pid is not None:
                parts[name] = _own_seconds(psutil.Process(pid))
        for name, proc in self._services.items():
            parts[name] = _tree_seconds(proc)
        machine = psutil.cpu_times()
        busy = (machine.user, machine.system, machine.nice, machine.irq, machine.softirq)
        parts["machine"] = sum(busy)
        return parts

    @staticmethod
    def per_event(
        before: dict[str, float], after: dict[str, float], events: int
    ) -> dict[str, float]:
        """Microseconds of CPU per event of each part between two samples, plus ``other``."""
        spent = {name: after[name] - before.get(name, 0.0) for name in after}
        machine = spent.pop("machine")
        spent["other"] = max(0.0, machine - sum(spent.values()))
        figures = {name: round(seconds / events * 1e6, 1) for name, seconds in spent.items()}
        figures["total"] = round(machine / events * 1e6, 1)
        return figures


def _own_seconds(proc: psutil.Process) -> float:
    try:
        return sum(proc.cpu_times()[:2])
    except psutil.NoSuchProcess:
        return 0.0


def _tree_seconds(proc: psutil.Process) -> float:
    """CPU seconds of a process, its exited children and its live descendants."""
    try:
        total = sum(proc.cpu_times()[:4])
        children = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for child in children:
        try:
            total += sum(child.cpu_times()[:4])
        except psutil.NoSuchProcess:  # exited meanwhile: counted in its parent's children times
            pass
    return total


# -- ours -------------------------------------------------------------------------------------


async def run_ours(
    settings: Settings,
    prefix: str,
    events: Sequence[dict[str, Any]],
    task_queue: str,
    *,
    facts: bool,
    pool: asyncpg.Pool,
    meter: CpuMeter | None = None,
) -> tuple[float, float, dict[str, float]]:
    """Seconds from the first batch until everything is stored and delivered to its case, and
    (facts) until the ``household_facts`` projection has applied it too, and (``meter``) the
    CPU per event of each part meanwhile. The projection runs as it is deployed: its own process
    (``outreach projections run``)."""
    await publish(settings, prefix, events)
    settings = settings.model_copy(
        update={"ingest_group_id": f"bench-{prefix}{uuid.uuid4().hex[:6]}"}
    )
    ingest = build_ingest(settings, topic_prefix=prefix, task_queue=task_queue)
    projector = _start_projections(settings) if facts else None
    ids = [event_uuid(e["source"], e["id"]) for e in events]
    cpu: dict[str, float] = {}
    try:
        async with ingest:
            await _until(lambda: ingest.stats.first_batch_at is not None)
            before = meter.sample(projections=_pid(projector)) if meter else {}
            await _until(lambda: ingest.stats.records >= len(events))
            stored = done = time.perf_counter()
            started = ingest.stats.first_batch_at
            assert started is not None
            if facts:
                last = await pool.fetchval(
                    "SELECT max(position) FROM events WHERE event_id = ANY($1::uuid[])", ids
                )
                while True:
                    position = await pool.fetchval(
                        "SELECT position FROM checkpoints WHERE name = $1",
                        f"projection:{HouseholdFactsProjection.name}",
                    )
                    if position is not None and position >= last:
                        break
                    await asyncio.sleep(0.005)
                done = time.perf_counter()
            if meter:
                after = meter.sample(projections=_pid(projector))
                cpu = CpuMeter.per_event(before, after, len(events))
    finally:
        if projector is not None:
            projector.terminate()
            projector.wait(timeout=30)
    assert ingest.stats.stored == len(events), ingest.stats
    if not facts:
        assert ingest.stats.delivered == len(events), ingest.stats
    return stored - started, done - started, cpu


def _pid(process: subprocess.Popen[bytes] | None) -> int | None:
    return process.pid if process is not None else None


def _start_projections(settings: Settings) -> subprocess.Popen[bytes]:
    env = settings.process_env(OUTREACH_LOG_LEVEL="WARNING")
    command = [sys.executable, "-m", "outreach.cli.main", "projections", "run"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


async def _until(condition: Callable[[], bool]) -> None:
    while True:
        if condition():
            return
        await asyncio.sleep(0.005)


def _topic(event: dict[str, Any]) -> str:
    return REGISTRY[event["type"]].topic


# -- baseline (a): raw consume + insert --------------------------------------------------------


async def run_raw(
    settings: Settings,
    prefix: str,
    events: Sequence[dict[str, Any]],
    pool: asyncpg.Pool,
    meter: CpuMeter,
) -> tuple[float, dict[str, float]]:
    await publish(settings, prefix, events)
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS bench_raw (topic text, part int, off bigint, value jsonb)"
    )
    topic = prefix + FACTS_TOPIC
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        group_id=f"bench-raw-{prefix}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_records=settings.ingest_batch_size,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    await consumer.start()
    got = 0
    started: float | None = None
    try:
        while got < len(events):
            batch = await consumer.getmany(
                timeout_ms=settings.ingest_batch_timeout_ms,
                max_records=settings.ingest_batch_size,
            )
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            if started is None:
                started = time.perf_counter()
                before = meter.sample()
            async with pool.acquire() as conn, conn.transaction():
                await conn.executemany(
                    "INSERT INTO bench_raw (topic, part, off, value) VALUES ($1, $2, $3, $4)",
                    [(r.topic, r.partition, r.offset, r.value.decode()) for r in records],
                )
            await consumer.commit()
            got += len(records)
        done = time.perf_counter()
        after = meter.sample()
    finally:
        await consumer.stop()
    assert started is not None
    return done - started, CpuMeter.per_event(before, after, len(events))


# -- baseline (b): bare signal-with-start -------------------------------------------------------


async def run_bare_temporal(
    settings: Settings,
    events: Sequence[dict[str, Any]],
    task_queue: str,
    store: EventStore,
    run: str,
) -> float:
    client = await connect(settings)
    signaller = CaseSignaller(
        client, task_queue=task_queue, concurrency=settings.ingest_signal_concurrency
    )
    signals = []
    for e in events:
        event = parse_inbound(samples.to_value(e), _topic(e))
        trigger = trigger_for(event, f"{store.stream_key(event.household_id)}-{run}")
        assert trigger is not None
        signals.append(CaseSignal(trigger, may_open=True))
    started = time.perf_counter()
    report = await signaller.deliver(signals)
    done = time.perf_counter()
    assert not report.failures and len(report.delivered) == len(events), report.failures[:1]
    return done - started


# -- main ---------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="outreach-bench-ingest-")
    settings = load_settings(
        OUTREACH_STATE_DIR=Path(tmp.name),
        OUTREACH_TEMPORAL_PORT=_free_port(),
        OUTREACH_TEMPORAL_UI_PORT=_free_port(),
        OUTREACH_KAFKA_PORT=_free_port(),
        OUTREACH_POSTGRES_PORT=_free_port(),
        OUTREACH_KAFKA_SESSION_TIMEOUT_MS=6000,
        OUTREACH_KAFKA_HEARTBEAT_INTERVAL_MS=1000,
        OUTREACH_INGEST_BATCH_SIZE=args.batch,
        OUTREACH_LOG_LEVEL="WARNING",
    )
    configure_logging("WARNING", "console")
    stack = Stack(settings)
    print(f"starting the embedded stack in {tmp.name} ...", file=sys.stderr)
    services = await stack.up(timeout=180)
    meter = CpuMeter({service.name: service.pid for service in services})
    try:
        await migrate_dsn(settings.postgres_dsn)
        pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=2, max_size=10)
        assert pool is not None
        client = await connect(settings)
        task_queue = f"bench-{uuid.uuid4().hex[:6]}"
        store = EventStore(pool, load_keyring(settings), notify=False)
        token = uuid.uuid4().hex[:6]
        # fresh events (and households) per run: a run of ours must not find the last one's
        runs = (1, 2)
        cases = {r: case_events(args.events, args.households, f"{token}{r}") for r in runs}
        facts = {r: fact_events(args.facts, args.households, f"{token}{r}") for r in runs}
        await ensure_topics(
            settings.kafka_servers,
            [
                p + t
                for p in ("c1.", "c2.", "f1.", "f2.", "a1.", "a2.")
                for t in {_topic(e) for e in cases[1] + facts[1]}
            ],
            settings.kafka_partitions,
        )
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[MinimalCase],
            max_concurrent_workflow_tasks=200,
        ):
            # Each side runs twice, alternating, and its faster run counts: neither gets a
            # warm-up advantage, and a hiccup of a shared machine costs neither side its figure.
            bare_s: list[float] = []
            ours_cases: list[tuple[float, float, dict[str, float]]] = []
            for run in runs:
                print(f"baseline (b): bare signal-with-start, run {run} ...", file=sys.stderr)
                bare_s.append(
                    await run_bare_temporal(settings, cases[run], task_queue, store, f"b{run}")
                )
                print(f"ours: case-opening events, run {run} ...", file=sys.stderr)
                ours_cases.append(
                    await run_ours(
                        settings, f"c{run}.", cases[run], task_queue, facts=False, pool=pool
                    )
                )
        raw_runs: list[tuple[float, dict[str, float]]] = []
        ours_facts: list[tuple[float, float, dict[str, float]]] = []
        for run in runs:
            print(f"baseline (a): raw consume + insert, run {run} ...", file=sys.stderr)
            raw_runs.append(await run_raw(settings, f"a{run}.", facts[run], pool, meter))
            print(f"ours: facts events, run {run} ...", file=sys.stderr)
            ours_facts.append(
                await run_ours(
                    settings, f"f{run}.", facts[run], task_queue, facts=True, pool=pool, meter=meter
                )
            )
        await pool.close()
    finally:
        await stack.down()
        tmp.cleanup()

    raw_s = [t for t, _ in raw_runs]
    best_facts = min(ours_facts, key=lambda run: run[1])
    best_raw = min(raw_runs, key=lambda run: run[0])
    cores = psutil.cpu_count() or 1
    figures: dict[str, Any] = {
        "events": args.events,
        "households": args.households,
        "facts": args.facts,
        "batch": args.batch,
        "signal_concurrency": settings.ingest_signal_concurrency,
        "cases_eps": round(args.events / min(t for t, _, _ in ours_cases), 1),
        "cases_runs_eps": [round(args.events / t, 1) for t, _, _ in ours_cases],
        "bare_temporal_eps": round(args.events / min(bare_s), 1),
        "bare_temporal_runs_eps": [round(args.events / t, 1) for t in bare_s],
        "facts_eps": round(args.facts / best_facts[1], 1),
        "facts_runs_eps": [round(args.facts / t, 1) for _, t, _ in ours_facts],
        "facts_stored_eps": round(args.facts / min(t for t, _, _ in ours_facts), 1),
        "raw_consume_insert_eps": round(args.facts / min(raw_s), 1),
        "raw_runs_eps": [round(args.facts / t, 1) for t in raw_s],
        "cores": cores,
        "facts_cpu_us": _renamed(best_facts[2], "ingest"),
        "raw_cpu_us": _renamed(best_raw[1], "consumer"),
    }
    figures["cases_ratio"] = round(figures["cases_eps"] / figures["bare_temporal_eps"], 3)
    figures["facts_ratio"] = round(figures["facts_eps"] / figures["raw_consume_insert_eps"], 3)
    figures["facts_cpu_ratio"] = round(
        figures["raw_cpu_us"]["total"] / figures["facts_cpu_us"]["total"], 3
    )
    return figures


def _renamed(cpu: dict[str, float], bench: str) -> dict[str, float]:
    """The meter's ``bench`` part (this process) under the name of what it ran."""
    return {bench if name == "bench" else name: value for name, value in cpu.items()}


def _cpu_line(label: str, cpu: dict[str, float], cores: int) -> str:
    parts = ", ".join(f"{name} {value:,.1f}" for name, value in cpu.items() if name != "total")
    ceiling = cores / cpu["total"] * 1e6 if cpu["total"] else float("inf")
    return (
        f"  {label}: {cpu['total']:,.1f} us per event ({parts}); "
        f"{cores} cores allow at most {ceiling:,.0f} events/s"
    )


def report(figures: dict[str, Any]) -> None:
    print(
        f"case-opening events, ours:            {figures['cases_eps']:>10,.1f} events/s  "
        f"({figures['events']} events, {figures['households']} households)"
    )
    print(f"baseline (b) bare signal-with-start:  {figures['bare_temporal_eps']:>10,.1f} events/s")
    print(f"cases_ratio (ours / b):               {figures['cases_ratio']:>10.3f}  (target >= 0.8)")
    print(f"facts events, ours (stored+projected):{figures['facts_eps']:>10,.1f} events/s")
    print(f"  of which stored by ingest:          {figures['facts_stored_eps']:>10,.1f} events/s")
    raw = figures["raw_consume_insert_eps"]
    print(f"baseline (a) raw consume + insert:    {raw:>10,.1f} events/s")
    print(f"facts_ratio (ours / a):               {figures['facts_ratio']:>10.3f}  (target >= 0.5)")
    print("machine CPU per facts event, timed window of the run that counts:")
    print(_cpu_line("ours", figures["facts_cpu_us"], figures["cores"]))
    print(_cpu_line("baseline (a)", figures["raw_cpu_us"], figures["cores"]))
    print(f"facts_cpu_ratio (a's CPU / ours):     {figures['facts_cpu_ratio']:>10.3f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1200, help="case-opening events")
    parser.add_argument("--households", type=int, default=400, help="households")
    parser.add_argument("--facts", type=int, default=10000, help="facts events")
    parser.add_argument("--batch", type=int, default=500, help="ingest batch size")
    report(asyncio.run(main(parser.parse_args())))

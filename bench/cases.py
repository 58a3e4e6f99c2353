"""Open N outreach cases, let them wait on their timers, and measure the case worker.

    python bench/cases.py [--n 10000] [--concurrency 64] [--rounds 4] [--settle-timeout 1800]

Starts its own embedded stack (Temporal dev server, Tansu, PostgreSQL) on free ports in a
temporary directory and stops it at the end, and runs ``outreach worker`` (the real case
worker: workflows, activities, read models) as a separate process, so its memory is its own.

* **ours**: N signal-with-starts of ``OutreachCase`` (exactly as ingest sends them: CaseStart +
  a hospital-bill trigger above the threshold, one household each, ``--concurrency`` at a time).
  Each case screens, records its opening, sends its notice, opens a visit task and then waits
  on its timers (reminder in 3 days, visit SLA in 7). The start rate is N over the time the
  start RPCs took; ``cases_waiting_after_s`` is how long until every case had reached its
  timers (its ``NoticeSent`` event stored), starts included.
* **baseline**: N bare signal-with-starts of a trivial workflow (the stand-in
  ``tests.minimal_case``: records the trigger, waits) with the same concurrency,
  on a worker in this process.

The two alternate in ``--rounds`` rounds (N / rounds starts each), so a noisy machine slows
both alike; after each round of ours the run waits until those cases reach their timers, so
their activities do not eat into the next baseline round. Rates are totals over the rounds.

The worker's peak RSS is sampled every 0.2 s from before the first start until all N cases wait
on their timers (and a few seconds after). The last line is one JSON object with every figure,
including ``worker_rss_mb`` (peak) and ``start_ratio`` (ours / baseline start rate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from temporalio.client import Client
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outreach.infra.log import configure_logging
from outreach.infra.settings import Settings, load_settings
from outreach.infra.stack import Stack
from outreach.infra.temporal import connect
from outreach.ingest.triggers import case_start_for
from outreach.store.migrations import migrate_dsn
from outreach.workflows.case_contract import TRIGGER_SIGNAL, WORKFLOW_TYPE, Trigger
from tests.minimal_case import MinimalCase


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trigger(token: str, index: int) -> Trigger:
    """A hospital bill of 20,000 yuan out of pocket for household ``index`` (keyed hash)."""
    return Trigger(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{token}/{index}")),
        event_type="medical.settlement.recorded",
        source="/agencies/medical-insurance/zhangjiajie",
        occurred_at=datetime.now(UTC),
        household_key=f"{token}{index:08d}".ljust(64, "0"),
        district=("yongding", "wulingyuan", "cili", "sangzhi")[index % 4],
        urban=index % 3 != 0,
        out_of_pocket=Decimal(20000),
        total_cost=Decimal(50000),
        serious_illness=True,
    )


async def start_all(
    client: Client, triggers: list[Trigger], task_queue: str, concurrency: int, prefix: str
) -> float:
    """Signal-with-start every trigger's case; seconds until every RPC returned."""
    limit = asyncio.Semaphore(concurrency)

    async def one(t: Trigger) -> None:
        async with limit:
            await client.start_workflow(
                WORKFLOW_TYPE,
                case_start_for(t),
                id=f"{prefix}-{t.household_key}",
                task_queue=task_queue,
                start_signal=TRIGGER_SIGNAL,
                start_signal_args=[t],
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in triggers))
    return time.perf_counter() - started


class RssSampler:
    """Peak resident memory of one process, sampled in the background."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.last = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.last = self.process.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, self.last)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def worker_process(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        OUTREACH_STATE_DIR=str(settings.state_dir),
        OUTREACH_TEMPORAL_PORT=str(settings.temporal_port),
        OUTREACH_TEMPORAL_UI_PORT=str(settings.temporal_ui_port),
        OUTREACH_KAFKA_PORT=str(settings.kafka_port),
        OUTREACH_POSTGRES_PORT=str(settings.postgres_port),
        OUTREACH_LOG_LEVEL="WARNING",
        OUTREACH_LOG_FORMAT="json",
    )
    external = {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
    }
    env.update({name: value for name, value in external.items() if value})
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "outreach.cli.main", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _chunks(n: int, rounds: int) -> list[int]:
    rounds = max(1, min(rounds, n))
    return [n // rounds + (1 if i < n % rounds else 0) for i in range(rounds)]


async def waiting_cases(pool: asyncpg.Pool, token_like: str) -> int:
    """Cases of this run that reached their timers (notice sent, visit task open)."""
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM events WHERE type = 'NoticeSent' AND stream LIKE $1",
            token_like,
        )
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="outreach-bench-cases-")
    settings = load_settings(
        OUTREACH_STATE_DIR=Path(tmp.name),
        OUTREACH_TEMPORAL_PORT=_free_port(),
        OUTREACH_TEMPORAL_UI_PORT=_free_port(),
        OUTREACH_KAFKA_PORT=_free_port(),
        OUTREACH_POSTGRES_PORT=_free_port(),
        OUTREACH_LOG_LEVEL="WARNING",
    )
    configure_logging("WARNING", "console")
    stack = Stack(settings)
    print(f"starting the embedded stack in {tmp.name} ...", file=sys.stderr)
    await stack.up(timeout=180)
    worker: subprocess.Popen[bytes] | None = None
    sampler: RssSampler | None = None
    try:
        await migrate_dsn(settings.postgres_dsn)
        pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=4)
        assert pool is not None
        client = await connect(settings)
        log_path = Path(tmp.name) / "worker.log"
        worker = worker_process(settings, log_path)
        sampler = RssSampler(worker.pid)
        sampler.start()
        await asyncio.sleep(3)  # worker start-up (imports, schedule, search attributes)
        if worker.poll() is not None:
            raise RuntimeError("the worker exited:\n" + log_path.read_text()[-3000:])
        idle_rss = sampler.last

        bare_queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
        bare_s: list[float] = []
        ours_s: list[float] = []
        settle_s = 0.0
        token = uuid.uuid4().hex[:8]
        chunks = _chunks(args.n, args.rounds)
        async with Worker(
            client,
            task_queue=bare_queue,
            workflows=[MinimalCase],
            max_concurrent_workflow_tasks=200,
        ):
            first = 0
            for round_, size in enumerate(chunks, start=1):
                print(
                    f"round {round_}/{len(chunks)}: {size} bare starts, then {size} cases ...",
                    file=sys.stderr,
                )
                bare = [trigger(f"b{token}", i) for i in range(first, first + size)]
                bare_s.append(await start_all(client, bare, bare_queue, args.concurrency, "bare"))
                ours = [trigger(token, i) for i in range(first, first + size)]
                began = time.perf_counter()
                ours_s.append(await start_all(client, ours, "outreach", args.concurrency, "case"))
                first += size
                # Let this round's cases reach their timers before the next baseline runs, so
                # their activities do not slow the baseline down.
                while (done := await waiting_cases(pool, f"{token}%")) < first:
                    if time.perf_counter() - began > args.settle_timeout:
                        raise RuntimeError(f"only {done} of {first} cases reached their timers")
                    if worker.poll() is not None:
                        raise RuntimeError("the worker exited:\n" + log_path.read_text()[-3000:])
                    await asyncio.sleep(0.5)
                settle_s += time.perf_counter() - began
            await asyncio.sleep(5)  # all N cases waiting on timers: steady state
            steady_rss = sampler.last
            worker_cpu = sum(psutil.Process(worker.pid).cpu_times()[:2])
        peak_rss = sampler.peak
        await pool.close()
    finally:
        if sampler is not None:
            await sampler.stop()
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        await stack.down()
        tmp.cleanup()

    mb = 1024 * 1024
    figures: dict[str, Any] = {
        "n": args.n,
        "concurrency": args.concurrency,
        "rounds": len(bare_s),
        "case_starts_per_s": round(args.n / sum(ours_s), 1),
        "bare_starts_per_s": round(args.n / sum(bare_s), 1),
        "case_rounds_per_s": [
            round(n / t, 1) for n, t in zip(_chunks(args.n, args.rounds), ours_s, strict=True)
        ],
        "bare_rounds_per_s": [
            round(n / t, 1) for n, t in zip(_chunks(args.n, args.rounds), bare_s, strict=True)
        ],
        "cases_waiting_after_s": round(settle_s, 1),
        "cases_settled_per_s": round(args.n / settle_s, 1),
        "worker_cpu_s": round(worker_cpu, 1),
        "worker_rss_mb": round(peak_rss / mb, 1),
        "worker_rss_steady_mb": round(steady_rss / mb, 1),
        "worker_rss_idle_mb": round(idle_rss / mb, 1),
        "cached_workflows": settings.worker_cached_workflows,
    }
    figures["start_ratio"] = round(figures["case_starts_per_s"] / figures["bare_starts_per_s"], 3)
    return figures


def report(figures: dict[str, Any]) -> None:
    print(f"cases opened:                      {figures['n']:>10,}")
    print(f"case starts, ours:                 {figures['case_starts_per_s']:>10,.1f} /s")
    print(f"bare signal-with-start baseline:   {figures['bare_starts_per_s']:>10,.1f} /s")
    print(f"start_ratio (ours / baseline):     {figures['start_ratio']:>10.3f}  (target >= 0.8)")
    print(
        f"all cases waiting on timers after: {figures['cases_waiting_after_s']:>10.1f} s"
        f"  ({figures['cases_settled_per_s']:,.1f} cases/s end to end)"
    )
    print(
        f"worker RSS peak / steady / idle:   {figures['worker_rss_mb']:>10.1f} MB"
        f" / {figures['worker_rss_steady_mb']:.1f} / {figures['worker_rss_idle_mb']:.1f}"
        "  (target <= 400)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="cases to open")
    parser.add_argument("--concurrency", type=int, default=64, help="start RPCs in flight")
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating baseline/ours rounds (noise)"
    )
    parser.add_argument(
        "--settle-timeout", type=float, default=1800.0, help="seconds to wait for the cases"
    )
    report(asyncio.run(main(parser.parse_args())))

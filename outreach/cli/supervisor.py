"""``outreach serve``: every part of the service in one process, for a small installation.

One asyncio loop runs ingest (:func:`~outreach.ingest.app.build_ingest`), the case worker
(:func:`~outreach.worker.worker.case_worker`), the outbox relay, every projection
(:func:`~outreach.projections.run_all`) and the HTTP API with the web page
(:func:`~outreach.api.app.create_app` under uvicorn). Each part still runs alone
(``outreach ingest|worker|relay|projections run|api``) to scale out; here they share one
Postgres pool, one event store and one Temporal client.

A part that fails (or returns while the others still run) stops the rest, and :func:`serve`
raises :class:`ServeError` naming it and why; setting ``stop`` (SIGINT/SIGTERM in the CLI)
stops every part and returns normally.

Every part rides through a restart of Postgres or Temporal: projections and the relay retry
their steps, ingest rewinds and re-reads a batch that failed, the Temporal worker and client
reconnect by themselves, the API answers 503 meanwhile. A part fails only once it has gone
``OUTREACH_PART_RECOVERY_TIMEOUT`` seconds without recovering: projections and the relay count
their failing steps, and :func:`watch` does it for ingest (batches failing with none processed)
and the worker (Temporal not answering its health check), which retry without end themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from outreach.infra.log import get_logger
from outreach.infra.settings import Settings
from outreach.infra.temporal import TASK_QUEUE
from outreach.store.subscription import pause

if TYPE_CHECKING:
    from temporalio.client import Client

    from outreach.ingest.app import IngestStats

__all__ = ["Part", "PartFailure", "ServeError", "run_parts", "serve", "watch"]

log = get_logger(__name__)

STOP_GRACE = 30.0
"""Seconds the parts get to finish after ``stop`` before they are cancelled."""


@dataclass(frozen=True)
class Part:
    """One long-running piece: ``run(stop)`` returns once ``stop`` is set (and only then)."""

    name: str
    run: Callable[[asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class PartFailure:
    name: str
    reason: str


class ServeError(RuntimeError):
    """A part failed; the others were stopped. ``failures`` names each failed part."""

    def __init__(self, failures: Sequence[PartFailure]) -> None:
        self.failures = tuple(failures)
        super().__init__("; ".join(f"{f.name}: {f.reason}" for f in self.failures))


async def run_parts(parts: Sequence[Part], stop: asyncio.Event) -> None:
    """Run ``parts`` until ``stop`` is set or one of them ends; then stop and await the rest.

    Raises :class:`ServeError` when a part raised, or ended before ``stop`` was set.
    """
    tasks = {asyncio.create_task(_guarded(p, stop), name=p.name): p for p in parts}
    stopping: asyncio.Task[None] = asyncio.create_task(_wait(stop), name="stop")
    failures: list[PartFailure] = []
    try:
        done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            ended = [tasks[t].name for t in done if t is not stopping]
            log.error("a part stopped; stopping the others", parts=ended)
        stop.set()
        _, unfinished = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in unfinished:
            log.error("part did not stop in time; cancelling", part=tasks[task].name)
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
        for task, part in tasks.items():
            if task in unfinished:
                failures.append(PartFailure(part.name, f"did not stop within {STOP_GRACE:.0f} s"))
            elif not task.cancelled() and task.exception() is not None:
                failures.append(_failure(part, task))
    finally:
        stopping.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(stopping, *tasks, return_exceptions=True)
    if failures:
        raise ServeError(failures)


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


async def _guarded(part: Part, stop: asyncio.Event) -> None:
    """The part, with a clean return before ``stop`` turned into an error."""
    try:
        await part.run(stop)
    except SystemExit as exc:  # a library that exits instead of raising
        raise RuntimeError(f"exited with status {exc.code} (see the log above)") from exc
    if not stop.is_set():
        raise RuntimeError("ended unexpectedly")


def _failure(part: Part, task: asyncio.Task[None]) -> PartFailure:
    if task.cancelled():
        return PartFailure(part.name, "cancelled")
    exc = task.exception()
    reason = "ended unexpectedly" if exc is None else (str(exc) or type(exc).__name__)
    if exc is not None and not isinstance(exc, RuntimeError):
        reason = f"{type(exc).__name__}: {reason}"
    return PartFailure(part.name, reason)


# -- recovery -----------------------------------------------------------------------------------

WATCH_INTERVAL = 5.0
"""Seconds between two looks of :func:`watch`."""


async def watch(
    stop: asyncio.Event,
    check: Callable[[], Awaitable[None]],
    *,
    give_up_after: float,
    what: str,
    interval: float = WATCH_INTERVAL,
) -> None:
    """Until ``stop`` is set, await ``check`` every ``interval`` seconds; once it has raised for
    ``give_up_after`` seconds (from the first failed look) with no success in between, raise
    (the part fails)."""
    failing_since: float | None = None
    while not await pause(stop, None, interval):
        try:
            await check()
        except Exception as exc:
            now = time.monotonic()
            failing_since = failing_since or now
            if now - failing_since > give_up_after:
                raise RuntimeError(
                    f"{what}: not recovered within {give_up_after:g} s ({exc})"
                ) from exc
            log.warning(f"{what}; waiting for it to recover", error=str(exc)[:300])
        else:
            failing_since = None


def ingest_progress(stats: IngestStats) -> Callable[[], Awaitable[None]]:
    """A :func:`watch` check: raises while ingest's batches fail and none has been processed
    since the first of them (no input at all is not a failure)."""
    seen = (stats.batches, stats.failed_batches)
    failing = False

    async def check() -> None:
        nonlocal seen, failing
        now = (stats.batches, stats.failed_batches)
        if now[0] != seen[0]:
            failing = False
        elif now[1] != seen[1]:
            failing = True
        seen = now
        if failing:
            raise RuntimeError(f"batches keep failing ({now[1]} so far; see the log)")

    return check


def temporal_answers(client: Client) -> Callable[[], Awaitable[None]]:
    """A :func:`watch` check: Temporal's frontend answers its health check."""

    async def check() -> None:
        if not await client.service_client.check_health(timeout=timedelta(seconds=5)):
            raise RuntimeError("Temporal reports not serving")

    return check


# -- everything ---------------------------------------------------------------------------------


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    topic_prefix: str = "",
    task_queue: str = TASK_QUEUE,
    review_schedule: bool = True,
    api_ready: asyncio.Event | None = None,
) -> None:
    """Migrate, then run ingest, worker, relay, projections and the API until ``stop``.

    ``topic_prefix`` and ``task_queue`` isolate a run on a shared broker and Temporal server
    (tests, the demo's test); production uses the contract's topics and the default queue.
    ``api_ready`` is set once the HTTP API listens.
    """
    from outreach.api.app import create_app, serve_api
    from outreach.infra.temporal import connect
    from outreach.ingest.app import build_ingest
    from outreach.projections import run_all
    from outreach.relay.outbox import Relay
    from outreach.store.database import open_pool
    from outreach.store.event_store import EventStore
    from outreach.store.migrations import migrate_dsn
    from outreach.store.personal_data import load_keyring
    from outreach.worker.worker import case_worker

    give_up_after = settings.part_recovery_timeout
    await migrate_dsn(settings.postgres_dsn)
    pool = await open_pool(settings, max_size=10)
    try:
        store = EventStore(pool, load_keyring(settings))
        client = await connect(settings)

        async def worker(stop: asyncio.Event) -> None:
            # the worker's read models run with the other projections (run_all)
            async with case_worker(
                settings,
                client=client,
                task_queue=task_queue,
                projections=False,
                schedule=review_schedule,
            ):
                # (the Temporal worker itself retries its polls forever)
                await watch(
                    stop,
                    temporal_answers(client),
                    give_up_after=give_up_after,
                    what="Temporal unreachable",
                )

        async def ingest(stop: asyncio.Event) -> None:
            app = build_ingest(settings, topic_prefix=topic_prefix, task_queue=task_queue)
            async with app:
                await watch(
                    stop,
                    ingest_progress(app.stats),
                    give_up_after=give_up_after,
                    what="ingest failing",
                )

        async def relay(stop: asyncio.Event) -> None:
            relay = Relay(pool, settings.kafka_servers, keyring=store.keys.keyring)
            await relay.run(stop, give_up_after=give_up_after)

        async def projections(stop: asyncio.Event) -> None:
            await run_all(store, stop, give_up_after=give_up_after)

        async def api(stop: asyncio.Event) -> None:
            app = create_app(settings, db=pool, store=store, temporal=client)
            await serve_api(settings, app, stop, ready=api_ready)

        log.info(
            "serving",
            api=settings.api_url,
            kafka=settings.kafka_servers,
            temporal=settings.temporal_target,
            task_queue=task_queue,
        )
        try:
            await run_parts(
                [
                    Part("worker", worker),
                    Part("ingest", ingest),
                    Part("relay", relay),
                    Part("projections", projections),
                    Part("api", api),
                ],
                stop,
            )
        finally:
            await store.close()
    finally:
        await pool.close()

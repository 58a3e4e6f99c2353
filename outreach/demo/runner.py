"""``outreach demo``: the whole service on the stack, fed a synthetic city's month.

Steps: bring the embedded stack up (services configured as external are only checked), migrate,
write the demo policy (timers of seconds) and point the worker at it, mint tokens (a caseworker
per district, a supervisor, ops), run everything ``outreach serve`` runs in this process, publish
the month's feeds a simulated day at a time while simulated caseworkers work the tasks through
the HTTP API, wait until every demo case has an outcome (or the timeout), and summarise.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

import asyncpg
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from outreach.cases.access import create_token, list_tokens, revoke_token
from outreach.demo.caseworkers import DemoTokens, SimulatedCaseworkers
from outreach.demo.city import DEFAULT_MONTH, DISTRICT_SHARES, City, generate_city
from outreach.demo.policy import write_demo_policy
from outreach.demo.publisher import publish_city
from outreach.demo.summary import DemoSummary, count_cases
from outreach.events.envelope import event_uuid
from outreach.infra.log import get_logger
from outreach.infra.settings import Settings
from outreach.infra.temporal import TASK_QUEUE

__all__ = ["DemoError", "DemoOptions", "run_demo"]

log = get_logger(__name__)
T = TypeVar("T")


class DemoError(RuntimeError):
    """The demo could not run (the stack, the service or the API failed); says why."""


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 7
    households: int = 120
    days: int = 30
    day_seconds: float = 0.5
    """Real seconds a simulated day lasts while the feeds are published."""
    month: date = DEFAULT_MONTH
    timeout: float = 600.0
    """Seconds to wait (after publishing) for every case to reach an outcome."""
    start_stack: bool = True
    topic_prefix: str = ""
    """Agency and dead-letter topics under a prefix (tests sharing one broker)."""
    task_queue: str = TASK_QUEUE
    """Temporal task queue of the demo's cases (tests sharing one server)."""


Report = Callable[[str], None]


async def run_demo(
    settings: Settings,
    options: DemoOptions,
    stop: asyncio.Event,
    *,
    progress: Report,
    on_summary: Callable[[DemoSummary], None],
    keep_running: bool,
) -> DemoSummary:
    """Run the demo; ``on_summary`` gets the summary, then (``keep_running``) everything keeps
    serving until ``stop`` is set. Raises :class:`DemoError` when a part fails."""
    from outreach.cli.supervisor import serve
    from outreach.infra.temporal import connect
    from outreach.store.database import open_pool
    from outreach.store.migrations import migrate_dsn
    from outreach.store.personal_data import load_keyring

    started = time.monotonic()
    if options.start_stack:
        await _stack_up(settings, progress)
    await migrate_dsn(settings.postgres_dsn)
    policy = write_demo_policy(settings.state_dir / "demo")
    settings = settings.model_copy(update={"policy_file": policy})
    progress(f"demo policy (timers of seconds): {policy}")

    city = generate_city(options.seed, options.households, options.days, options.month)
    keyring = load_keyring(settings)
    households = {keyring.stream_key(h.household_id): h for h in city.households}
    progress(
        f"city of seed {city.seed}: {len(city.households)} households,"
        f" {len(city.messages)} messages over {city.days} days ({city.malformed} malformed)"
    )

    pool = await open_pool(settings, max_size=4)
    services_stop = asyncio.Event()
    serving: asyncio.Task[None] | None = None
    try:
        since: datetime = await pool.fetchval("SELECT now()")
        tokens = await _mint_tokens(pool)
        api_ready = asyncio.Event()
        serving = asyncio.create_task(
            serve(
                settings,
                services_stop,
                topic_prefix=options.topic_prefix,
                task_queue=options.task_queue,
                api_ready=api_ready,
            ),
            name="serve",
        )
        await _unless_failed(api_ready.wait(), serving, stop)
        progress(f"serving: API and web page at {settings.api_url}")
        client = await connect(settings)
        stored_ids, case_bound = _event_ids(city)
        earlier = await pool.fetchval(
            "SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])", stored_ids
        )

        staff_stop = asyncio.Event()
        staff = SimulatedCaseworkers(_local_url(settings), tokens, households)
        working = asyncio.create_task(staff.run(staff_stop), name="caseworkers")
        try:
            published = await _unless_failed(
                publish_city(
                    city,
                    settings.kafka_servers,
                    day_seconds=options.day_seconds,
                    partitions=settings.kafka_partitions,
                    topic_prefix=options.topic_prefix,
                    stop=stop,
                    on_day=_daily(progress, city.days),
                ),
                serving,
                stop,
            )
            progress("all feeds published; waiting for every case to reach an outcome")
            outcome = await _unless_failed(
                _outcomes_reached(
                    pool,
                    client,
                    city,
                    stored_ids,
                    case_bound,
                    list(households),
                    since,
                    options.timeout,
                ),
                serving,
                stop,
            )
        finally:
            staff_stop.set()
            await working
        counts = await count_cases(pool, list(households), since)
        notes = []
        if outcome.running:
            notes.append(
                f"{len(outcome.running)} case workflow(s) still running although the read model"
                f" shows their cases closed: {', '.join(outcome.running)} (see the Temporal UI)"
            )
        elif not outcome.finished:
            notes.append(f"not every case reached an outcome within {options.timeout:.0f} s")
        if earlier:
            notes.append(
                f"{earlier} of the city's {len(stored_ids)} events were stored by an earlier run"
                " (same seed and size): ingest treated them as duplicates, so those cases are the"
                " earlier run's; --seed N publishes another city"
            )
        summary = DemoSummary(
            seed=city.seed,
            households=len(city.households),
            days=city.days,
            published=dict(sorted(published.items())),
            counts=counts,
            api=staff.stats.to_dict(),
            elapsed_seconds=time.monotonic() - started,
            finished=outcome.finished,
            urls=_urls(settings),
            tokens=tokens.to_dict(),
            notes=notes,
        )
        on_summary(summary)
        if keep_running:
            progress("still serving; Ctrl-C stops (the stack keeps running)")
            await _unless_failed(stop.wait(), serving, stop)
        return summary
    finally:
        services_stop.set()
        if serving is not None:
            await _finish_serving(serving)
        await pool.close()


def _daily(progress: Report, days: int) -> Callable[[int, int], None]:
    """Progress every fifth simulated day (and the last): messages published so far."""
    total = 0

    def on_day(day: int, messages: int) -> None:
        nonlocal total
        total += messages
        if (day + 1) % 5 == 0 or day + 1 == days:
            progress(f"day {day + 1:>2}/{days}: {total} messages published")

    return on_day


async def _stack_up(settings: Settings, progress: Report) -> None:
    from outreach.infra.stack import Stack, StackError

    progress("starting the stack (services already running are reused) ...")
    try:
        statuses = await Stack(settings).up()
    except StackError as exc:
        raise DemoError(f"the stack did not come up: {exc}") from exc
    for status in statuses:
        progress(f"  {status.name:<9} {status.mode:<9} {status.address}")


DEMO_TOKEN_PREFIX = "demo "
"""Names of the tokens the demo mints; an earlier run's are revoked when a new run mints."""


async def _mint_tokens(pool: asyncpg.Pool) -> DemoTokens:
    for earlier in await list_tokens(pool):
        if earlier.name.startswith(DEMO_TOKEN_PREFIX) and not earlier.revoked:
            await revoke_token(pool, earlier.token_id)
    districts = sorted(DISTRICT_SHARES)
    caseworkers = {}
    for district in districts:
        token, _ = await create_token(
            pool, role="caseworker", districts=[district], name=f"demo caseworker {district}"
        )
        caseworkers[district] = token
    supervisor, _ = await create_token(
        pool, role="supervisor", districts=districts, name="demo supervisor"
    )
    ops, _ = await create_token(pool, role="ops", name="demo ops")
    return DemoTokens(caseworkers=caseworkers, supervisor=supervisor, ops=ops)


async def _unless_failed(work: Awaitable[T], serving: asyncio.Task[None], stop: asyncio.Event) -> T:
    """``work``'s result, unless the service stops first (DemoError) or ``stop`` is set
    (DemoError too: interrupted)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if serving.done():
        exc = serving.exception() if not serving.cancelled() else None
        raise DemoError(f"the service stopped: {exc or 'ended early'}")
    raise DemoError("interrupted")


async def _finish_serving(serving: asyncio.Task[None]) -> None:
    try:
        await serving
    except Exception as exc:
        log.error("the service stopped with an error", error=str(exc))


def _event_ids(city: City) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Event-store ids of the city's valid events, and of those that go to a case."""
    valid = [m for m in city.messages if m.valid]
    stored = [event_uuid(m.document()["source"], m.event_id) for m in valid]
    facts = "facts.household.reported"
    return stored, [uid for uid, m in zip(stored, valid, strict=True) if m.kind != facts]


RUNNING_GRACE = 30.0
"""Seconds the read model may say "all closed" while some case workflows still run, before the
demo reports those workflows instead of waiting for them."""


@dataclass(frozen=True)
class Outcome:
    finished: bool  # every case closed (read model) and no case workflow running
    running: tuple[str, ...] = ()  # workflows still running although the read model is done


async def _outcomes_reached(
    pool: asyncpg.Pool,
    client: Client,
    city: City,
    stored_ids: list[uuid.UUID],
    case_bound: list[uuid.UUID],
    households: list[str],
    since: datetime,
    timeout: float,
) -> Outcome:
    """Poll until every valid message is stored (and every case trigger delivered), every
    malformed one dead-lettered, and no demo case is open or running.

    A workflow still running ``RUNNING_GRACE`` seconds after the read model shows every case
    closed is reported rather than waited for (the read model and the workflow disagree).
    """
    deadline = time.monotonic() + timeout
    closed_since: float | None = None
    running: list[str] = []
    while time.monotonic() < deadline:
        if await _read_model_done(pool, city, stored_ids, case_bound, households, since):
            running = await _running_workflows(pool, client, case_bound)
            if not running:
                return Outcome(True)
            closed_since = closed_since or time.monotonic()
            if time.monotonic() - closed_since > RUNNING_GRACE:
                return Outcome(False, tuple(running))
        else:
            closed_since = None
        await asyncio.sleep(1.0)
    return Outcome(False, tuple(running))


async def _read_model_done(
    pool: asyncpg.Pool,
    city: City,
    stored_ids: list[uuid.UUID],
    case_bound: list[uuid.UUID],
    households: list[str],
    since: datetime,
) -> bool:
    from outreach.ingest.deadletter import deadlettered_count

    stored = await pool.fetchval(
        "SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])", stored_ids
    )
    delivered = await pool.fetchval(
        "SELECT count(*) FROM ingest_deliveries WHERE event_id = ANY($1::uuid[])", case_bound
    )
    open_cases = await pool.fetchval(
        "SELECT count(*) FROM cases WHERE status = 'open' AND household = ANY($1::text[])",
        households,
    )
    dead = await deadlettered_count(pool, since=since)
    return (
        stored >= len(stored_ids)
        and delivered >= len(case_bound)
        and not open_cases
        and dead >= city.malformed
    )


async def _running_workflows(
    pool: asyncpg.Pool, client: Client, case_bound: list[uuid.UUID]
) -> list[str]:
    """Case workflows of the city still running (e.g. a trigger delivered a moment ago whose
    case has not recorded its opening yet)."""
    rows = await pool.fetch(
        "SELECT DISTINCT workflow_id FROM ingest_deliveries WHERE event_id = ANY($1::uuid[])",
        case_bound,
    )
    running = []
    for row in rows:
        try:
            description = await client.get_workflow_handle(row["workflow_id"]).describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                continue
            raise
        if description.status == WorkflowExecutionStatus.RUNNING:
            running.append(str(row["workflow_id"]))
    return sorted(running)


def _local_url(settings: Settings) -> str:
    host = settings.api_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.api_port}"


def _urls(settings: Settings) -> dict[str, str]:
    base = settings.api_url.rstrip("/")
    urls = {
        "web page": f"{base}/",
        "ops overview": f"{base}/ops",
        "API (OpenAPI)": f"{base}/openapi.json",
    }
    if settings.temporal_ui:
        urls["Temporal UI"] = settings.temporal_ui
    return urls

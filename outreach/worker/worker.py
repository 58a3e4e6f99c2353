"""The case worker (``outreach worker``): Temporal workflows and activities of the case, plus the
read models their events feed and the annual-review schedule.

One process runs:

- a Temporal worker on :data:`~outreach.infra.temporal.TASK_QUEUE` with ``OutreachCase`` and
  ``AnnualReview`` and every case activity, its concurrency from settings
  (``OUTREACH_WORKER_ACTIVITIES``, ``OUTREACH_WORKER_WORKFLOW_TASKS``,
  ``OUTREACH_WORKER_CACHED_WORKFLOWS``);
- the ``visit_tasks`` and ``enrolments`` projections (subscriptions on the event store);
- at start, the custom search attributes (added to the namespace when missing, through the
  operator service: a real cluster does not have them) and the ``AnnualReview`` schedule
  (created when missing).

Workers are stateless: run more of them to scale out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from outreach.activities import ActivityContext, case_activities
from outreach.activities.channels import ChannelAdapter, PostgresChannel, WebhookChannel
from outreach.infra.log import get_logger
from outreach.infra.settings import Settings
from outreach.infra.temporal import SEARCH_ATTRIBUTES, TASK_QUEUE, connect
from outreach.policy.loader import load_policy
from outreach.projections import subscription_for
from outreach.projections.case_tasks import CASE_PROJECTIONS
from outreach.store.database import open_pool
from outreach.store.event_store import EventStore
from outreach.store.personal_data import load_keyring
from outreach.worker.converter import shared_pydantic_data_converter
from outreach.workflows.annual_review import AnnualReview
from outreach.workflows.outreach_case import OutreachCase
from outreach.workflows.review_data import ReviewRun

__all__ = [
    "REVIEW_SCHEDULE_ID",
    "CaseWorker",
    "activity_context",
    "case_worker",
    "ensure_review_schedule",
    "ensure_search_attributes",
    "run_case_worker",
    "workflow_runner",
]

REVIEW_SCHEDULE_ID = "outreach-annual-review"
WORKFLOWS = (OutreachCase, AnnualReview)

_INDEXED = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}

log = get_logger(__name__)


def channel_for(settings: Settings, pool: asyncpg.Pool) -> ChannelAdapter:
    """The webhook adapter when ``OUTREACH_NOTIFY_WEBHOOK_URL`` is set, else Postgres."""
    if settings.notify_webhook_url:
        return WebhookChannel(settings.notify_webhook_url, timeout=settings.notify_webhook_timeout)
    return PostgresChannel(pool)


def workflow_runner(settings: Settings) -> SandboxedWorkflowRunner:
    """The sandbox per ``OUTREACH_WORKER_SANDBOX`` (see the setting)."""
    if settings.worker_sandbox == "strict":
        return SandboxedWorkflowRunner()
    restrictions = SandboxRestrictions.default.with_passthrough_modules("outreach")
    return SandboxedWorkflowRunner(restrictions=restrictions)


def activity_context(settings: Settings, store: EventStore) -> ActivityContext:
    """The activities' dependencies; the policy file (``OUTREACH_POLICY``) is read here, once."""
    return ActivityContext(
        store=store,
        policy=load_policy(settings.policy_file),
        channel=channel_for(settings, store.pool),
        max_visit_attempts=settings.case_max_visit_attempts,
        history_limit=settings.case_history_limit,
    )


async def ensure_search_attributes(client: Client) -> list[str]:
    """Add the custom search attributes the namespace lacks; returns the names added."""
    service = client.operator_service
    try:
        listed = await service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(listed.custom_attributes)
    except RPCError as exc:
        # Temporal's Java test server can add attributes but not list them.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {
        name: _INDEXED[kind] for name, kind in SEARCH_ATTRIBUTES.items() if name not in known
    }
    if missing:
        try:
            await service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
        except RPCError as exc:  # another worker added them meanwhile
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
        log.info("search attributes added", names=sorted(missing))
    return sorted(missing)


async def ensure_review_schedule(
    client: Client, every: timedelta, *, task_queue: str = TASK_QUEUE
) -> bool:
    """Create the ``AnnualReview`` schedule if it does not exist; True if created."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            AnnualReview.run,
            ReviewRun(),
            id=f"{REVIEW_SCHEDULE_ID}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(REVIEW_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    log.info("annual review schedule created", every=str(every))
    return True


@dataclass
class CaseWorker:
    """A running case worker: the Temporal worker and its read-model subscriptions."""

    client: Client
    worker: Worker
    store: EventStore
    stop: asyncio.Event


@asynccontextmanager
async def case_worker(
    settings: Settings,
    *,
    client: Client | None = None,
    pool: asyncpg.Pool | None = None,
    task_queue: str = TASK_QUEUE,
    projections: bool = True,
    schedule: bool = True,
) -> AsyncIterator[CaseWorker]:
    """Run a case worker for the duration of the ``async with`` block."""
    own_pool = pool is None
    pool = pool or await open_pool(settings, max_size=settings.worker_db_pool)
    client = client or await connect(settings)
    store = EventStore(pool, load_keyring(settings))
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        await ensure_search_attributes(client)
        if schedule:
            await ensure_review_schedule(client, settings.review_interval, task_queue=task_queue)
        # The worker decodes with a process-wide type-adapter cache (same wire format as every
        # other client's pydantic converter): see outreach.worker.converter.
        config = client.config()
        config["data_converter"] = shared_pydantic_data_converter
        worker = Worker(
            Client(**config),
            task_queue=task_queue,
            workflows=list(WORKFLOWS),
            activities=case_activities(activity_context(settings, store)),
            max_concurrent_activities=settings.worker_activities,
            max_concurrent_workflow_tasks=settings.worker_workflow_tasks,
            max_cached_workflows=settings.worker_cached_workflows,
            workflow_runner=workflow_runner(settings),
        )
        if projections:
            tasks = [
                asyncio.create_task(subscription_for(store, p).run(stop), name=p.name)
                for p in CASE_PROJECTIONS
            ]
        async with worker:
            log.info("case worker running", task_queue=task_queue)
            yield CaseWorker(client, worker, store, stop)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
        if own_pool:
            await pool.close()


async def run_case_worker(settings: Settings, stop: asyncio.Event) -> None:
    """``outreach worker``: run until ``stop`` is set."""
    async with case_worker(settings):
        await stop.wait()

"""Helpers for the case workflow tests: a worker on the time-skipping server with the real
activities (real Postgres), agency events stored the way ingest stores them, cases opened the
way ingest opens them (signal-with-start), and polling on the case's status query."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outreach.activities import ActivityContext, case_activities
from outreach.activities.channels import PostgresChannel
from outreach.events import samples as s
from outreach.events import validate_inbound
from outreach.ingest.storage import EventStoreIngest
from outreach.ingest.triggers import case_start_for, trigger_for, workflow_id_for
from outreach.policy.defaults import DEFAULT_POLICY
from outreach.policy.parameters import PolicyParameters
from outreach.projections import HouseholdFactsProjection, subscription_for
from outreach.projections.case_tasks import CASE_PROJECTIONS
from outreach.store.event_store import EventStore, open_outbound
from outreach.workflows.annual_review import AnnualReview
from outreach.workflows.case_contract import (
    STATUS_QUERY,
    TRIGGER_SIGNAL,
    WORKFLOW_TYPE,
    CaseOutcome,
    CaseStatus,
    Trigger,
    VisitAssets,
    VisitResult,
)
from outreach.workflows.clock import local_date
from outreach.workflows.outreach_case import OutreachCase

NONE = "none"


@dataclass(frozen=True)
class OpenedCase:
    """A case a test opened, with its open visit task (``CaseRig.hospital_case``)."""

    handle: WorkflowHandle[Any, Any]
    case_id: str
    task_id: str
    household_id: str
    household_key: str
    district: str
    id_number: str  # the householder's


@dataclass
class CaseRig:
    """One test's worker (own task queue) on the shared time-skipping server (``env``), or on
    the session's dev server (``env`` None, real time)."""

    client: Client
    env: WorkflowEnvironment | None
    store: EventStore
    pool: asyncpg.Pool
    task_queue: str
    opened: set[str] = field(default_factory=set)

    # -- agency side -----------------------------------------------------------------------
    async def agency_event(self, document: dict[str, Any]) -> Trigger:
        """Store an agency event as ingest does; the trigger ingest would send for it."""
        event = validate_inbound(document)
        ingest = EventStoreIngest(self.store)
        await ingest.store_events([event])
        trigger = trigger_for(event, ingest.household_key(event))
        assert trigger is not None
        return trigger

    async def fact(self, document: dict[str, Any]) -> None:
        """Store a facts event and bring the household_facts projection up to date."""
        event = validate_inbound(document)
        await EventStoreIngest(self.store).store_events([event])
        await subscription_for(self.store, HouseholdFactsProjection()).catch_up()

    async def open_case(self, trigger: Trigger) -> WorkflowHandle[Any, Any]:
        """Signal-with-start, exactly as ingest does (``case_signals.CaseSignaller``)."""
        self.opened.add(workflow_id_for(trigger))
        return await self.client.start_workflow(
            WORKFLOW_TYPE,
            case_start_for(trigger),
            id=workflow_id_for(trigger),
            task_queue=self.task_queue,
            start_signal=TRIGGER_SIGNAL,
            start_signal_args=[trigger],
            result_type=CaseOutcome,
        )

    async def hospital_case(
        self, district: str = "yongding", *, out_of_pocket: int = 150_000
    ) -> OpenedCase:
        """A new household's hospital bill (``out_of_pocket`` yuan of it paid by the household)
        opens a case; returns once the case's visit task is open."""
        household_id, id_number = new_household(district)
        trigger = await self.agency_event(
            s.settlement_recorded(
                household_id=household_id,
                id_number=id_number,
                district=district,
                total_cost=out_of_pocket + 60_000,
                fund_paid=60_000,
                out_of_pocket=out_of_pocket,
            )
        )
        handle = await self.open_case(trigger)
        task_id = await self.open_task(handle)
        case_id = (await self.status(handle)).case_id
        return OpenedCase(
            handle, case_id, task_id, household_id, trigger.household_key, district, id_number
        )

    async def signal(self, trigger: Trigger) -> None:
        handle = self.client.get_workflow_handle(workflow_id_for(trigger))
        await handle.signal(TRIGGER_SIGNAL, trigger)

    # -- case side -------------------------------------------------------------------------
    async def today(self) -> date:
        if self.env is None:
            return local_date(datetime.now(UTC))
        return local_date(await self.env.get_current_time())

    async def status(self, handle: WorkflowHandle[Any, Any]) -> CaseStatus:
        status: CaseStatus = await handle.query(STATUS_QUERY, result_type=CaseStatus)
        return status

    async def until(
        self,
        handle: WorkflowHandle[Any, Any],
        predicate: Callable[[CaseStatus], bool],
        *,
        timeout: float = 30.0,
        what: str = "condition",
    ) -> CaseStatus:
        """Poll the status query (real time; the server's clock stays put) until ``predicate``."""
        deadline = time.monotonic() + timeout
        last: CaseStatus | None = None
        while time.monotonic() < deadline:
            last = await self.status(handle)
            if predicate(last):
                return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"{what} not reached within {timeout}s; last status: {last}")

    async def open_task(self, handle: WorkflowHandle[Any, Any], *, after: str | None = None) -> str:
        """The id of the case's open visit task (a different one than ``after``)."""
        status = await self.until(
            handle,
            lambda st: st.open_task is not None and st.open_task.task_id != after,
            what="an open visit task",
        )
        assert status.open_task is not None
        return status.open_task.task_id

    async def events(self, household_key: str, case_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The case's domain events (type, data) in stream order."""
        return [
            (e.type, e.data)
            for e in await self.store.read_stream(household_key)
            if e.data.get("case_id") == case_id
        ]

    async def outbox(self, case_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The case's outbox messages (topic, CloudEvent), personal fields opened as the relay
        publishes them."""
        rows = await self.pool.fetch(
            "SELECT o.topic, o.stream, o.message_id, o.payload, k.key_id, k.wrapped_key"
            " FROM outbox o LEFT JOIN household_keys k ON k.stream = o.stream"
            " WHERE o.payload->>'subject' = $1 ORDER BY o.position",
            case_id,
        )
        return [
            (
                r["topic"],
                open_outbound(
                    self.store.keys,
                    r["stream"],
                    r["message_id"],
                    json.loads(r["payload"]),
                    r["key_id"],
                    r["wrapped_key"],
                )[0],
            )
            for r in rows
        ]

    async def notifications(self, case_id: str) -> list[tuple[str, str, str]]:
        rows = await self.pool.fetch(
            "SELECT audience, channel, template FROM notifications WHERE case_id = $1"
            " ORDER BY created_at, template",
            case_id,
        )
        return [(r["audience"], r["channel"], r["template"]) for r in rows]

    async def project(self) -> None:
        """Bring the case read models (visit_tasks, enrolments) up to date."""
        for projection in CASE_PROJECTIONS:
            await subscription_for(self.store, projection).catch_up()


@asynccontextmanager
async def case_rig(
    env: WorkflowEnvironment | Client,
    store: EventStore,
    *,
    policy: PolicyParameters = DEFAULT_POLICY,
    max_visit_attempts: int = 3,
    history_limit: int = 2000,
) -> AsyncIterator[CaseRig]:
    queue = f"cases-{uuid.uuid4().hex[:8]}"
    context = ActivityContext(
        store=store,
        policy=policy,
        channel=PostgresChannel(store.pool),
        max_visit_attempts=max_visit_attempts,
        history_limit=history_limit,
    )
    client = env if isinstance(env, Client) else env.client
    rig = CaseRig(
        client=client,
        env=None if isinstance(env, Client) else env,
        store=store,
        pool=store.pool,
        task_queue=queue,
    )
    async with Worker(
        client,
        task_queue=queue,
        workflows=[OutreachCase, AnnualReview],
        activities=case_activities(context),
    ):
        try:
            yield rig
        finally:
            # Cases a test leaves open would keep the shared server busy (timers, activity
            # retries with no worker) whenever a later test lets time skip: end them while
            # the worker still runs, so no activity of theirs is left started with no worker
            # (the time-skipping server does not skip time while one is).
            for workflow_id in rig.opened:
                with contextlib.suppress(RPCError):
                    await client.get_workflow_handle(workflow_id).terminate("test finished")


# -- households and visits -------------------------------------------------------------------


def new_household(district: str = "yongding") -> tuple[str, str]:
    """A fresh (household id, householder's ID number) pair, distinct per call."""
    index = random.randrange(1, 999_999)
    return s.household_id_for(index, district=district), s.id_number_for(index, district=district)


def found(
    task_id: str,
    visited_on: date,
    *,
    size: int = 4,
    income: Decimal = Decimal(0),
    labor: tuple[str, ...] | None = None,
    consent: bool = True,
    assets: VisitAssets | None = None,
    notes: str = "",
    has_supporter: bool | None = None,
) -> VisitResult:
    from outreach.policy.circumstances import LaborCapacity

    capacities = labor if labor is not None else (NONE,) * size
    return VisitResult(
        task_id=task_id,
        visited_on=visited_on,
        found=True,
        household_size=size,
        monthly_income_total=income,
        labor_capacity=tuple(LaborCapacity(c) for c in capacities),
        consent_to_check=consent,
        assets=assets or VisitAssets(homes=1),
        notes=notes,
        has_supporter=has_supporter,
    )


def not_found(task_id: str, visited_on: date) -> VisitResult:
    return VisitResult(task_id=task_id, visited_on=visited_on, found=False)


def later(days: float) -> timedelta:
    return timedelta(days=days, seconds=1)


__all__ = [
    "CaseRig",
    "OpenedCase",
    "case_rig",
    "found",
    "later",
    "new_household",
    "not_found",
    "replace",
]

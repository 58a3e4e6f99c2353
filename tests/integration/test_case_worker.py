"""``outreach worker`` as deployed, on the session's dev server (real time): the policy file's
short durations, the visit_tasks projection kept by the worker, search attributes ops can
list cases by, the shared-sandbox runner and the worker's own data converter."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from temporalio.client import Client, WorkflowExecutionDescription

from outreach.cli.main import build_parser
from outreach.events import samples as s
from outreach.infra.settings import Settings
from outreach.ingest.triggers import case_start_for, workflow_id_for
from outreach.store.event_store import EventStore
from outreach.worker.worker import case_worker
from outreach.workflows.case_contract import (
    STATUS_QUERY,
    TRIGGER_SIGNAL,
    VISIT_RESULT_UPDATE,
    WORKFLOW_TYPE,
    CaseOutcome,
    CaseStatus,
    UpdateAck,
)
from outreach.workflows.clock import local_date
from outreach.workflows.outreach_case import DISTRICT_KEY, OVERDUE_KEY, STAGE_KEY
from tests.case_support import CaseRig, found, new_household

T = TypeVar("T")

POLICY = """
[durations]
reminder_interval = "PT1M"
visit_sla = "PT1S"
publicity = "PT2S"
max_reminders = 1
"""


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s (last: {value!r})")
        await asyncio.sleep(0.2)


def test_the_worker_command_is_registered() -> None:
    args = build_parser().parse_args(["worker"])
    assert args.handler.__name__ == "_worker"


async def test_worker_runs_a_case_with_the_policy_files_durations(
    settings: Settings,
    temporal_client: Client,
    pg_pool: asyncpg.Pool,
    store: EventStore,
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    worker_settings = settings.model_copy(update={"policy_file": policy})
    queue = f"worker-{uuid.uuid4().hex[:8]}"
    async with case_worker(
        worker_settings, client=temporal_client, pool=pg_pool, task_queue=queue, schedule=False
    ):
        rig = CaseRig(temporal_client, None, store, pg_pool, queue)
        household_id, id_number = new_household("cili")
        trigger = await rig.agency_event(
            s.certificate_issued(
                household_id=household_id, id_number=id_number, district="cili", grade=1
            )
        )
        handle = await temporal_client.start_workflow(
            WORKFLOW_TYPE,
            case_start_for(trigger),
            id=workflow_id_for(trigger),
            task_queue=queue,
            start_signal=TRIGGER_SIGNAL,
            start_signal_args=[trigger],
            result_type=CaseOutcome,
        )

        async def open_task() -> Any:
            return await pg_pool.fetchrow(
                "SELECT task_id, district, status, overdue FROM visit_tasks"
                " WHERE household = $1 AND status = 'open' AND overdue",
                trigger.household_key,
            )

        # The one-second SLA passes: the worker's projection shows the task open and overdue.
        task = await eventually(open_task)
        assert task["district"] == "cili"

        # The workflow upserts the attribute in the task after the one that recorded the
        # overdue event the projection shows, so it may lag the task by a moment under load.
        async def overdue_description() -> WorkflowExecutionDescription | None:
            description = await handle.describe()
            overdue = description.typed_search_attributes.get(OVERDUE_KEY)
            return description if overdue is True else None

        description = await eventually(overdue_description)
        attributes = description.typed_search_attributes
        assert attributes.get(STAGE_KEY) == "visit"
        assert attributes.get(DISTRICT_KEY) == "cili"
        # Ops list overdue cases of a district (Temporal visibility, what the UI queries).
        query = (
            f"OutreachOverdue = true AND OutreachDistrict = 'cili' AND WorkflowId = '{handle.id}'"
        )

        async def listed() -> list[str]:
            return [w.id async for w in temporal_client.list_workflows(query)]

        assert await eventually(listed) == [handle.id]

        status: CaseStatus = await handle.query(STATUS_QUERY, result_type=CaseStatus)
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(
                task["task_id"],
                local_date(status.opened_at or description.start_time),
                size=2,
                income=Decimal(5000),
                labor=("none", "full"),
            ),
            result_type=UpdateAck,
        )
        outcome = await asyncio.wait_for(handle.result(), 30)  # two seconds of publicity
        assert outcome.outcome == "enrolled"
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(STAGE_KEY) == "closed" and attributes.get(OVERDUE_KEY) is False
        row = await eventually(
            lambda: pg_pool.fetchrow(
                "SELECT status, found FROM visit_tasks WHERE task_id = $1 AND status <> 'open'",
                task["task_id"],
            )
        )
        assert (row["status"], row["found"]) == ("completed", True)
        enrolled = await eventually(
            lambda: pg_pool.fetchval(
                "SELECT status FROM enrolments WHERE case_id = $1", outcome.case_id
            )
        )
        assert enrolled == "active"

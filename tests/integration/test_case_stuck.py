"""A case whose first step was retried through a Postgres outage, then replayed by a restarted
worker, on the real Temporal dev server: it must still take a visit result (poison input #8)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError
from temporalio.worker import Replayer, Worker

from outreach.activities import ActivityContext, case_activities
from outreach.activities.channels import PostgresChannel
from outreach.activities.screening import ScreeningActivities
from outreach.events import samples as s
from outreach.policy.loader import load_policy
from outreach.store.event_store import EventStore
from outreach.workflows.annual_review import AnnualReview
from outreach.workflows.case_contract import VISIT_RESULT_UPDATE, UpdateAck
from outreach.workflows.case_data import ScreeningInputs, ScreeningRequest
from outreach.workflows.outreach_case import OutreachCase
from tests.case_support import CaseRig, found, new_household

# A reminder due 4 s after the case opened: sooner than a screening retried through the outage
# ends, so the first notice and the first reminder go out one after the other.
POLICY = """
[durations]
reminder_interval = "PT4S"
visit_sla = "P1D"
publicity = "PT5S"
max_reminders = 1
"""

OUTAGE_ATTEMPTS = 4
"""Screening attempts refused before Postgres answers again: retried after 1, 2, 4 and 8 s, the
5th attempt comes 15 s later, past the 10 s workflow task timeout."""


class _ScreeningThroughOutage(ScreeningActivities):
    @activity.defn(name="gather_screening_inputs")
    async def gather_screening_inputs(self, request: ScreeningRequest) -> ScreeningInputs:
        if activity.info().attempt <= OUTAGE_ATTEMPTS:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return await super().gather_screening_inputs(request)


def _activities(context: ActivityContext) -> list[Callable[..., Any]]:
    screening = _ScreeningThroughOutage(context)
    rest = [a for a in case_activities(context) if a.__name__ != "gather_screening_inputs"]
    return [screening.gather_screening_inputs, *rest]


def _worker(client: Client, queue: str, context: ActivityContext, *, cached: int = 1000) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[OutreachCase, AnnualReview],
        activities=_activities(context),
        max_cached_workflows=cached,
    )


async def _task_failures(handle: WorkflowHandle[Any, Any]) -> list[str]:
    history = await handle.fetch_history()
    return [
        e.workflow_task_failed_event_attributes.failure.message
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def test_a_case_slowed_by_an_outage_still_takes_input_after_a_worker_restart(
    temporal_client: Client, store: EventStore, tmp_path: Path
) -> None:
    """Regression (poison input #8): screening took 5 attempts while Postgres was down, the
    notice and a reminder were then sent in one workflow task, and after a kill the case was
    stuck for good (``[TMPRL1100] Nondeterminism error: Missing associated machine for
    LocalActivity(4)``); every visit completion timed out (503).

    The cause: run as local activities, the retried screening spanned the workflow task's
    heartbeats. The first execution went on at the heartbeat task's time (the reminder was
    due), but a replay takes heartbeat tasks as one and went on at the first task's time (no
    reminder due): it met the reminder's marker with no command for it. Regular activities
    (``REGULAR_ACTIVITIES_PATCH``) complete as events of their own, each followed by a workflow
    task whose time is the same on every replay."""
    (tmp_path / "policy.toml").write_text(POLICY)
    context = ActivityContext(
        store=store,
        policy=load_policy(tmp_path / "policy.toml"),
        channel=PostgresChannel(store.pool),
        max_visit_attempts=3,
        history_limit=2000,
    )
    queue = f"stuck-{uuid.uuid4().hex[:8]}"
    rig = CaseRig(temporal_client, None, store, store.pool, queue)
    household_id, id_number = new_household()
    trigger = await rig.agency_event(
        s.settlement_recorded(household_id=household_id, id_number=id_number)
    )
    handle = await rig.open_case(trigger)
    try:
        async with _worker(temporal_client, queue, context):
            status = await rig.until(
                handle,
                lambda st: st.open_task is not None and st.reminders_sent >= 1,
                timeout=60,
                what="the notice and the first reminder",
            )
        assert status.open_task is not None
        # The worker is gone (as if killed); a new one has no case in memory and replays each
        # from its history on every task.
        async with _worker(temporal_client, queue, context, cached=0):
            visit = found(status.open_task.task_id, await rig.today())
            try:
                ack = await handle.execute_update(
                    VISIT_RESULT_UPDATE,
                    visit,
                    result_type=UpdateAck,
                    rpc_timeout=timedelta(seconds=30),
                )
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
                failures = await _task_failures(handle)
                message = f"the case took no visit result ({exc}); task failures: {failures}"
                raise AssertionError(message) from None
            assert ack.detail == "visit recorded: verification follows"
        assert await _task_failures(handle) == []
        # and what it recorded replays as the replay test replays committed histories
        await Replayer(
            workflows=[OutreachCase, AnnualReview], data_converter=temporal_client.data_converter
        ).replay_workflow(await handle.fetch_history())
    finally:
        with contextlib.suppress(RPCError):
            await handle.terminate("test finished")

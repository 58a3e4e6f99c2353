"""Updates are validated before they enter history: a bad visit result (or an objection or
approval at the wrong time) is rejected and changes nothing, not even the history length."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from outreach.events import samples as s
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import (
    APPROVAL_UPDATE,
    OBJECTION_UPDATE,
    VISIT_RESULT_UPDATE,
    WITHDRAWAL_UPDATE,
    Approval,
    Objection,
    Stage,
    UpdateAck,
    VisitAssets,
    Withdrawal,
)
from tests.case_support import CaseRig, case_rig, found, new_household
from tests.replay.recording import record


async def _rejected(handle: WorkflowHandle[Any, Any], update: str, arg: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update(update, arg, result_type=UpdateAck)
    cause = info.value.cause
    return str(cause.message if hasattr(cause, "message") else cause)


_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


async def _effects(handle: WorkflowHandle[Any, Any]) -> list[int]:
    """The history's events other than workflow tasks. (A real server runs the task that
    rejects an update speculatively and drops it from history; the Java test server records
    it, but nothing else.)"""
    history = await handle.fetch_history()
    return [e.event_type for e in history.events if e.event_type not in _TASK_EVENTS]


async def _open(rig: CaseRig) -> tuple[WorkflowHandle[Any, Any], str, str, str]:
    household_id, id_number = new_household("yongding")
    trigger = await rig.agency_event(
        s.certificate_issued(household_id=household_id, id_number=id_number)
    )
    handle = await rig.open_case(trigger)
    task_id = await rig.open_task(handle)
    status = await rig.status(handle)
    return handle, task_id, trigger.household_key, status.case_id


async def test_invalid_visit_results_are_rejected_without_effect(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        handle, task_id, household_key, case_id = await _open(rig)
        today = await rig.today()
        good = found(task_id, today, size=2)
        before_status = await rig.status(handle)
        before_effects = await _effects(handle)
        before_events = await rig.events(household_key, case_id)

        bad_results = {
            "not the case's open task": replace(good, task_id="somebody-else"),
            "household_size must be 1-30": replace(good, household_size=0, labor_capacity=()),
            "labor_capacity needs one entry per member": replace(
                good, labor_capacity=good.labor_capacity[:1]
            ),
            "monthly_income_total must be a non-negative amount": replace(
                good, monthly_income_total=Decimal(-1)
            ),
            "is in the future": replace(good, visited_on=today + timedelta(days=2)),
            "before the case opened": replace(good, visited_on=today - timedelta(days=30)),
            "asset counts must not be negative": replace(good, assets=VisitAssets(vehicles=-1)),
            "monthly_income_total is required": replace(good, monthly_income_total=None),
        }
        for expected, result in bad_results.items():
            message = await _rejected(handle, VISIT_RESULT_UPDATE, result)
            assert expected in message, (expected, message)

        # Not even decodable: an unknown labour capacity, a household size that is text.
        raw: dict[str, Any] = {
            "task_id": task_id,
            "visited_on": today.isoformat(),
            "found": True,
            "household_size": 2,
            "monthly_income_total": "0",
            "labor_capacity": ["none", "lazy"],
            "consent_to_check": True,
        }
        await _rejected(handle, VISIT_RESULT_UPDATE, raw)
        await _rejected(handle, VISIT_RESULT_UPDATE, {**raw, "household_size": "two"})

        # Updates that do not fit the stage.
        assert "publicity" in await _rejected(
            handle, OBJECTION_UPDATE, Objection("o-1", "too early", today)
        )
        assert "no decision awaits approval" in await _rejected(
            handle, APPROVAL_UPDATE, Approval(True, "sup")
        )
        assert "needs a reason" in await _rejected(
            handle, WITHDRAWAL_UPDATE, Withdrawal(" ", "caseworker-1")
        )

        assert await _effects(handle) == before_effects
        assert await rig.status(handle) == before_status
        assert await rig.events(household_key, case_id) == before_events

        # The valid result is then accepted.
        ack = await handle.execute_update(VISIT_RESULT_UPDATE, good, result_type=UpdateAck)
        assert ack.stage == Stage.VERIFY


async def test_household_without_consent_is_declined_and_a_withdrawal_closes(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        handle, task_id, household_key, case_id = await _open(rig)
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(task_id, await rig.today(), size=1, consent=False),
            result_type=UpdateAck,
        )
        outcome = await handle.result()
        assert (outcome.outcome, outcome.reason) == (
            "declined",
            "no consent to the economic-status check",
        )
        with pytest.raises(RPCError):  # the run has completed: nothing takes updates
            await handle.execute_update(
                VISIT_RESULT_UPDATE, found(task_id, await rig.today(), size=1)
            )

        handle, task_id, household_key, case_id = await _open(rig)
        ack = await handle.execute_update(
            WITHDRAWAL_UPDATE,
            Withdrawal("moved to another city", "caseworker-9"),
            result_type=UpdateAck,
        )
        assert ack.stage == Stage.CLOSED
        outcome = await handle.result()
        assert outcome.outcome == "withdrawn"
        events = await rig.events(household_key, case_id)
        assert [t for t, _ in events][-3:] == ["CaseWithdrawn", "VisitCancelled", "CaseClosed"]
        assert events[-3][1]["personal"] == {"reason": "moved to another city"}
        assert outcome.reason == "withdrawn by the household"
        await rig.project()
        row = await rig.pool.fetchrow("SELECT status FROM visit_tasks WHERE task_id = $1", task_id)
        assert row is not None and row["status"] == "cancelled"
        await record(handle, "case_withdrawn")


async def test_bill_below_the_trigger_closes_at_screening(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("yongding")
        trigger = await rig.agency_event(
            s.settlement_recorded(household_id=household_id, id_number=id_number, out_of_pocket=900)
        )
        handle = await rig.open_case(trigger)
        outcome = await handle.result()
        assert outcome.outcome == "not_eligible"
        assert "below 10000" in outcome.reason
        types = [t for t, _ in await rig.events(trigger.household_key, outcome.case_id)]
        assert types == ["CaseOpened", "CaseClosed"]
        await record(handle, "case_screened_out")


async def test_rejected_update_leaves_no_trace_in_history_on_a_real_server(
    temporal_client: Client, store: EventStore
) -> None:
    """On the dev server (a real Temporal server) a rejected update adds no event at all."""
    async with case_rig(temporal_client, store) as rig:
        handle, task_id, _, _ = await _open(rig)
        today = await rig.today()
        length = len((await handle.fetch_history()).events)
        await _rejected(handle, VISIT_RESULT_UPDATE, found(task_id, today, size=0))
        await _rejected(handle, VISIT_RESULT_UPDATE, found("another-task", today, size=1))
        assert len((await handle.fetch_history()).events) == length
        await handle.terminate("test over")

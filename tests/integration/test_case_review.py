"""The annual review: a year after enrolment, the household is re-checked against fresh facts;
programmes it no longer qualifies for end (outbound ``outreach.enrollment.terminated``), the
rest continue to the next year. Started by a Temporal schedule in production."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta

from temporalio.client import Client, ScheduleHandle
from temporalio.testing import WorkflowEnvironment

from outreach.activities.enrolment import next_review_on
from outreach.events import samples as s
from outreach.events.topics import ENROLLMENTS_TOPIC
from outreach.store.event_store import ANY_VERSION, EventStore, NewEvent
from outreach.worker.worker import REVIEW_SCHEDULE_ID, ensure_review_schedule
from outreach.workflows.annual_review import AnnualReview
from outreach.workflows.case_contract import (
    APPROVAL_UPDATE,
    VISIT_RESULT_UPDATE,
    Approval,
    UpdateAck,
)
from outreach.workflows.clock import local_date
from outreach.workflows.review_data import ReviewRun
from tests.case_support import CaseRig, case_rig, found, new_household
from tests.replay.recording import record


async def _enrol(rig: CaseRig, household_id: str, id_number: str, grade: int) -> str:
    """A certificate holder's household of two with no income, enrolled; its case id."""
    trigger = await rig.agency_event(
        s.certificate_issued(household_id=household_id, id_number=id_number, grade=grade)
    )
    handle = await rig.open_case(trigger)
    task_id = await rig.open_task(handle)
    await handle.execute_update(
        VISIT_RESULT_UPDATE, found(task_id, await rig.today(), size=2), result_type=UpdateAck
    )
    status = await rig.until(handle, lambda st: st.stage in ("approval", "publicity"))
    if status.stage == "approval":
        await handle.execute_update(APPROVAL_UPDATE, Approval(True, "sup"), result_type=UpdateAck)
    outcome = await handle.result()
    assert outcome.outcome == "enrolled"
    return outcome.case_id


async def test_review_ends_dibao_when_income_rose_and_keeps_the_nursing_subsidy(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("yongding")
        case_id = await _enrol(rig, household_id, id_number, grade=1)
        await rig.project()
        row = await rig.pool.fetchrow("SELECT * FROM enrolments WHERE case_id = $1", case_id)
        assert row is not None and row["status"] == "active"
        effective_from = date.fromisoformat(_json(row["programmes"])[0]["effective_from"])
        assert row["next_review_on"] == next_review_on(effective_from)  # a year after the award

        # Half a year later the tax bureau reports 5,000 yuan a month of wages.
        await rig.fact(
            s.fact_reported(
                household_id=household_id,
                id_number=id_number,
                kind="income",
                amount=5000,
                count=None,
                period="month",
                detail=None,
            )
        )
        due = row["next_review_on"]
        review = await rig.client.start_workflow(
            AnnualReview.run,
            ReviewRun(as_of=due),
            id=f"review-{uuid.uuid4().hex[:8]}",
            task_queue=rig.task_queue,
        )
        summary = await review.result()
        assert summary.as_of == due and summary.reviewed >= 1
        await record(review, "annual_review")
        await rig.project()
        row = await rig.pool.fetchrow("SELECT * FROM enrolments WHERE case_id = $1", case_id)
        assert row is not None and row["status"] == "active"
        assert row["next_review_on"] == next_review_on(due)
        kept = [p["programme"] for p in _json(row["programmes"])]
        assert kept == ["disability_nursing_subsidy"]

        (message,) = [m for t, m in await rig.outbox(case_id) if m["type"].endswith("terminated")]
        assert message["data"]["programmes"] == ["dibao", "disability_living_subsidy"]
        assert message["data"]["household_id"] == household_id
        assert message["data"]["effective_to"] == due.isoformat()
        topics = {t for t, m in await rig.outbox(case_id)}
        assert topics == {ENROLLMENTS_TOPIC, "outreach.cases"}

        # Reviewing the same due date again changes nothing (idempotent by case and date).
        again = await rig.client.execute_workflow(
            AnnualReview.run,
            ReviewRun(as_of=due),
            id=f"review-{uuid.uuid4().hex[:8]}",
            task_queue=rig.task_queue,
        )
        assert again.as_of == due
        reviewed = [t for t, _ in await rig.events(str(row["household"]), case_id)]
        assert reviewed.count("EnrollmentReviewed") == 1


def _json(value: object) -> list[dict[str, str]]:
    loaded = json.loads(value) if isinstance(value, str) else value
    assert isinstance(loaded, list)
    return loaded


async def test_schedule_starts_the_review_on_the_dev_server(
    temporal_client: Client, store: EventStore
) -> None:
    """``outreach worker`` creates the schedule; a run started by it terminates an enrolment
    whose household no longer qualifies (here: one recorded directly, due today)."""
    async with case_rig(temporal_client, store) as rig:
        today = local_date(datetime.now(UTC))
        case_id = f"review-case-{uuid.uuid4().hex[:8]}"
        stream = store.stream_key(f"HH-review-{uuid.uuid4().hex[:8]}")
        await store.append(
            stream,
            [
                NewEvent(
                    event_id=uuid.uuid4(),
                    type="EnrollmentFinalized",
                    data={
                        "case_id": case_id,
                        "district": "cili",
                        "urban": True,
                        "programmes": [
                            {
                                "programme": "dibao",
                                "monthly_amount": "300.00",
                                "effective_from": "2025-01-01",
                            }
                        ],
                        "circumstances": {
                            "household_size": 1,
                            "monthly_income_total": "2000",
                            "labor_capacities": ["full"],
                        },
                        "next_review_on": (today - timedelta(days=1)).isoformat(),
                    },
                    occurred_at=datetime.now(UTC) - timedelta(days=366),
                )
            ],
            ANY_VERSION,
        )
        await rig.project()
        handle: ScheduleHandle | None = None
        try:
            await temporal_client.get_schedule_handle(REVIEW_SCHEDULE_ID).delete()
        except Exception:
            pass
        try:
            assert await ensure_review_schedule(
                temporal_client, timedelta(days=1), task_queue=rig.task_queue
            )
            assert not await ensure_review_schedule(temporal_client, timedelta(days=1))
            handle = temporal_client.get_schedule_handle(REVIEW_SCHEDULE_ID)
            await handle.trigger()
            for _ in range(150):
                status = await rig.pool.fetchval(
                    "SELECT status FROM enrolments WHERE case_id = $1", case_id
                )
                if status == "terminated":
                    break
                await rig.project()
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the scheduled review did not terminate the enrolment")
            description = await handle.describe()
            assert description.info.num_actions >= 1
        finally:
            if handle is not None:
                await handle.delete()

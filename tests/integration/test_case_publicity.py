"""Approval and publicity: an objection during publicity re-opens verification; a refused
approval does too; the case then decides again and runs a new publicity period."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from outreach.events import samples as s
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import (
    APPROVAL_UPDATE,
    OBJECTION_UPDATE,
    VISIT_RESULT_UPDATE,
    Approval,
    Objection,
    Stage,
    UpdateAck,
)
from tests.case_support import case_rig, found, new_household
from tests.replay.recording import record


async def test_objection_during_publicity_sends_the_case_back_to_verification(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("yongding")
        trigger = await rig.agency_event(
            s.household_listed(household_id=household_id, id_number=id_number, urban=False)
        )
        handle = await rig.open_case(trigger)
        task_id = await rig.open_task(handle)
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(task_id, await rig.today(), size=3, income=Decimal(600)),
            result_type=UpdateAck,
        )
        status = await rig.until(handle, lambda st: st.stage == Stage.APPROVAL)
        assert status.decision is not None
        first_decision = status.decision.decision_id
        await handle.execute_update(
            APPROVAL_UPDATE, Approval(True, "yd-supervisor-2"), result_type=UpdateAck
        )
        status = await rig.until(handle, lambda st: st.publicity_ends_at is not None)
        await time_skipping_env.sleep(timedelta(days=3))  # three of the seven days pass

        # A neighbour reports that the household runs a shop.
        ack = await handle.execute_update(
            OBJECTION_UPDATE,
            Objection("obj-1", "household runs a roadside shop", await rig.today()),
            result_type=UpdateAck,
        )
        assert ack.stage == Stage.VERIFY and ack.task_id is not None
        status = await rig.status(handle)
        assert status.stage == Stage.VERIFY and status.decision is None
        assert status.open_task is not None and status.open_task.kind == "reverify"
        assert status.publicity_ends_at is None and status.objections == 1

        # Re-verification finds the shop's income: 3,000 a month for three people.
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(ack.task_id, await rig.today(), size=3, income=Decimal(3000)),
            result_type=UpdateAck,
        )
        outcome = await handle.result()
        assert outcome.outcome == "not_eligible"
        events = [t for t, _ in await rig.events(trigger.household_key, status.case_id)]
        assert events.count("EligibilityAssessed") == 2
        assert events.count("PublicityStarted") == 1
        assert "ObjectionRaised" in events and "PublicityEnded" not in events
        assert events[-1] == "CaseClosed"
        assert "EnrollmentFinalized" not in events
        reasons = dict(await rig.events(trigger.household_key, status.case_id))
        assert reasons["CaseClosed"]["outcome"] == "not_eligible"
        assert first_decision != reasons["EligibilityAssessed"]["decision_id"]
        await record(handle, "case_objection_not_eligible")


async def test_objection_then_second_publicity_then_enrolment(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("cili")
        trigger = await rig.agency_event(
            s.certificate_issued(
                household_id=household_id, id_number=id_number, district="cili", grade=1
            )
        )
        handle = await rig.open_case(trigger)
        task_id = await rig.open_task(handle)
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(task_id, await rig.today(), size=2, income=Decimal(5000), labor=("none",) * 2),
            result_type=UpdateAck,
        )
        await rig.until(handle, lambda st: st.publicity_ends_at is not None)
        ack = await handle.execute_update(
            OBJECTION_UPDATE,
            Objection("obj-7", "grade disputed", await rig.today()),
            result_type=UpdateAck,
        )
        assert ack.task_id is not None
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(
                ack.task_id, await rig.today(), size=2, income=Decimal(5000), labor=("none",) * 2
            ),
            result_type=UpdateAck,
        )
        status = await rig.until(handle, lambda st: st.publicity_ends_at is not None)
        assert status.objections == 1
        outcome = await handle.result()
        assert outcome.outcome == "enrolled"
        events = [t for t, _ in await rig.events(trigger.household_key, status.case_id)]
        assert events.count("PublicityStarted") == 2
        assert events.count("PublicityEnded") == 1
        assert events.count("VisitScheduled") == 2
        await record(handle, "case_objection_enrolled")


async def test_refused_approval_re_opens_verification(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("yongding")
        trigger = await rig.agency_event(
            s.settlement_recorded(
                household_id=household_id, id_number=id_number, out_of_pocket=40000
            )
        )
        handle = await rig.open_case(trigger)
        task_id = await rig.open_task(handle)
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(task_id, await rig.today(), size=2, income=Decimal(400)),
            result_type=UpdateAck,
        )
        status = await rig.until(handle, lambda st: st.stage == Stage.APPROVAL)
        assert status.decision is not None
        ack = await handle.execute_update(
            APPROVAL_UPDATE,
            Approval(False, "yd-supervisor-3", "income not documented"),
            result_type=UpdateAck,
        )
        assert ack.stage == Stage.VERIFY and ack.task_id is not None
        status = await rig.status(handle)
        assert status.decision is None and status.open_task is not None
        assert status.open_task.kind == "reverify"
        events = dict(await rig.events(trigger.household_key, status.case_id))
        assert events["ApprovalRecorded"]["approved"] is False
        await record(handle, "case_approval_refused")

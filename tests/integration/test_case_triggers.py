"""Triggers: a second one joins the open case (and re-screens it), duplicates are ignored,
a trigger after the decision opens the household's next case once this one closes."""

from __future__ import annotations

from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from outreach.events import samples as s
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import (
    TRIGGERS_QUERY,
    VISIT_RESULT_UPDATE,
    Stage,
    UpdateAck,
    case_id_for_trigger,
)
from tests.case_support import case_rig, found, later, new_household
from tests.replay.recording import record


async def test_second_trigger_joins_the_open_case(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("yongding")
        certificate = await rig.agency_event(
            s.certificate_issued(household_id=household_id, id_number=id_number, grade=2)
        )
        handle = await rig.open_case(certificate)
        first_task = await rig.open_task(handle)
        status = await rig.status(handle)
        assert "temporary_assistance" not in status.programmes

        # A hospital bill for the same household, delivered by signal-with-start as ingest
        # does, and then delivered again.
        bill = await rig.agency_event(
            s.settlement_recorded(
                household_id=household_id, id_number=id_number, out_of_pocket=30000
            )
        )
        again = await rig.open_case(bill)
        assert again.result_run_id == handle.result_run_id  # the same run: joined
        await rig.signal(bill)
        await rig.signal(certificate)

        status = await rig.until(
            handle, lambda st: "temporary_assistance" in st.programmes, what="re-screening"
        )
        assert await handle.query(TRIGGERS_QUERY) == [certificate.event_id, bill.event_id]
        assert status.triggers == (certificate.event_id, bill.event_id)
        assert status.open_task is not None and status.open_task.task_id == first_task
        events = await rig.events(certificate.household_key, status.case_id)
        joined = [d for t, d in events if t == "TriggerJoined"]
        assert len(joined) == 1
        assert joined[0]["trigger"] == {"type": bill.event_type, "event_id": bill.event_id}
        assert joined[0]["reconsidered"] is True
        description = await handle.describe()
        assert description.run_id == handle.result_run_id

        # The decision sees both: the bill's temporary assistance, the certificate's subsidy.
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(first_task, await rig.today(), size=2, income=Decimal(500)),
            result_type=UpdateAck,
        )
        status = await rig.until(handle, lambda st: st.stage == Stage.APPROVAL)
        assert status.decision is not None
        assert {a.programme for a in status.decision.awards} >= {
            "dibao",
            "temporary_assistance",
            "disability_nursing_subsidy",
        }
        await record(handle, "case_trigger_joined")


async def test_trigger_after_the_decision_opens_the_next_case(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("cili")
        certificate = await rig.agency_event(
            s.certificate_issued(
                household_id=household_id, id_number=id_number, district="cili", grade=1
            )
        )
        handle = await rig.open_case(certificate)
        task_id = await rig.open_task(handle)
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(task_id, await rig.today(), size=2, income=Decimal(4000), labor=("none",) * 2),
            result_type=UpdateAck,
        )
        first = await rig.until(handle, lambda st: st.publicity_ends_at is not None)
        bill = await rig.agency_event(
            s.settlement_recorded(
                household_id=household_id,
                id_number=id_number,
                district="cili",
                out_of_pocket=25000,
            )
        )
        await rig.signal(bill)
        await rig.until(handle, lambda st: bill.event_id in st.triggers)
        await rig.until(handle, lambda st: st.stage == Stage.PUBLICITY)

        # The first case runs to its end; the bill then opens the next case in the same
        # workflow id (continue-as-new), with the case id ingest would have given it.
        await time_skipping_env.sleep(later(7))
        second_case = case_id_for_trigger(bill.event_id)
        status = await rig.until(
            handle, lambda st: st.case_id == second_case and st.open_task is not None
        )
        assert status.stage == Stage.VISIT
        assert status.triggers == (certificate.event_id, bill.event_id)  # dedupe carried
        assert "temporary_assistance" in status.programmes
        closed = dict(await rig.events(certificate.household_key, first.case_id))
        assert closed["CaseClosed"]["outcome"] == "enrolled"
        opened = dict(await rig.events(certificate.household_key, second_case))
        assert opened["CaseOpened"]["trigger"]["event_id"] == bill.event_id
        await rig.signal(certificate)  # an old event redelivered: still ignored
        assert await handle.query(TRIGGERS_QUERY) == [certificate.event_id, bill.event_id]
        await record(handle, "case_next_case")

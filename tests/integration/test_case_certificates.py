"""Disability certificates: a grade-1 certificate leads to the nursing subsidy (no approval:
certificate-based only); a holder who never answers ends unreachable after the reminders; a
visit past its SLA escalates to the supervisors and stays open."""

from __future__ import annotations

from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from outreach.events import samples as s
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import VISIT_RESULT_UPDATE, Stage, UpdateAck
from outreach.workflows.outreach_case import OVERDUE_KEY, STAGE_KEY
from tests.case_support import case_rig, found, later, new_household, not_found
from tests.replay.recording import record


async def test_grade_one_certificate_leads_to_the_nursing_subsidy(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("cili")
        trigger = await rig.agency_event(
            s.certificate_issued(
                household_id=household_id,
                id_number=id_number,
                district="cili",
                category="physical",
                grade=1,
            )
        )
        handle = await rig.open_case(trigger)
        task_id = await rig.open_task(handle)
        status = await rig.status(handle)
        assert status.programmes == (
            "dibao",
            "disability_living_subsidy",
            "disability_nursing_subsidy",
        )
        # Three people, 6,000 yuan a month: far above dibao and low-income lines.
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(
                task_id,
                await rig.today(),
                size=3,
                income=Decimal(6000),
                labor=("none", "full", "full"),
            ),
            result_type=UpdateAck,
        )
        status = await rig.until(
            handle, lambda st: st.publicity_ends_at is not None, what="publicity"
        )
        assert status.decision is not None
        assert not status.decision.approval_required  # certificate-based award only
        assert [(a.programme, a.monthly_amount) for a in status.decision.awards] == [
            ("disability_nursing_subsidy", Decimal("80.00"))
        ]
        outcome = await handle.result()
        assert outcome.outcome == "enrolled"
        outbox = await rig.outbox(status.case_id)
        programmes = outbox[0][1]["data"]["programmes"]
        assert [(p["programme"], p["monthly_amount"]) for p in programmes] == [
            ("disability_nursing_subsidy", "80.00")
        ]
        templates = [t for _, _, t in await rig.notifications(status.case_id)]
        assert "approval_request" not in templates
        await record(handle, "case_nursing_subsidy")


async def test_certificate_holder_who_never_answers_ends_unreachable(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("sangzhi")
        trigger = await rig.agency_event(
            s.certificate_issued(
                household_id=household_id, id_number=id_number, district="sangzhi", grade=2
            )
        )
        handle = await rig.open_case(trigger)
        # Three home visits find nobody.
        task_id = await rig.open_task(handle)
        for attempt in (1, 2, 3):
            ack = await handle.execute_update(
                VISIT_RESULT_UPDATE, not_found(task_id, await rig.today()), result_type=UpdateAck
            )
            if attempt < 3:
                assert ack.task_id is not None and ack.task_id != task_id
                assert f"attempt {attempt + 1}" in ack.detail
                task_id = ack.task_id
            else:
                assert ack.task_id is None
        status = await rig.status(handle)
        assert status.stage == Stage.VISIT and status.open_task is None
        # Nor do the reminders: SMS, a phone task, a letter, three days apart; after the last
        # one's interval the case ends.
        started = await time_skipping_env.get_current_time()
        outcome = await handle.result()
        assert outcome.outcome == "unreachable"
        assert "3 visit attempt(s) and 3 reminder(s)" in outcome.reason
        elapsed = await time_skipping_env.get_current_time() - started
        assert later(12) - later(0.01) <= elapsed
        assert await rig.notifications(status.case_id) == [
            ("household", "sms", "notice"),
            ("household", "sms", "reminder"),
            ("household", "phone", "reminder"),
            ("household", "letter", "reminder"),
        ]
        events = [t for t, _ in await rig.events(trigger.household_key, status.case_id)]
        assert events.count("ReminderSent") == 3
        assert events.count("VisitCompleted") == 3 and events[-1] == "CaseClosed"
        outbox = await rig.outbox(status.case_id)
        assert [m["data"]["outcome"] for _, m in outbox] == ["unreachable"]
        await record(handle, "case_unreachable")


async def test_overdue_visit_escalates_to_the_supervisor_and_stays_open(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("wulingyuan")
        trigger = await rig.agency_event(
            s.certificate_issued(
                household_id=household_id, id_number=id_number, district="wulingyuan", grade=3
            )
        )
        handle = await rig.open_case(trigger)
        task_id = await rig.open_task(handle)
        await time_skipping_env.sleep(later(7))  # the visit SLA (P7D) passes
        status = await rig.until(handle, lambda st: st.overdue, what="overdue")
        assert status.open_task is not None and status.open_task.task_id == task_id
        assert status.stage == Stage.VISIT
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(OVERDUE_KEY) is True
        assert attributes.get(STAGE_KEY) == "visit"
        assert ("supervisor", "inbox", "visit_overdue") in await rig.notifications(status.case_id)
        await rig.project()
        row = await rig.pool.fetchrow(
            "SELECT status, overdue, district, attempt FROM visit_tasks WHERE task_id = $1",
            task_id,
        )
        assert row is not None and dict(row) == {
            "status": "open",
            "overdue": True,
            "district": "wulingyuan",
            "attempt": 1,
        }

        # The late visit still counts; the flag clears.
        await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(task_id, await rig.today(), size=2, consent=False),
            result_type=UpdateAck,
        )
        outcome = await handle.result()
        assert outcome.outcome == "declined"
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(OVERDUE_KEY) is False
        assert attributes.get(STAGE_KEY) == "closed"
        await rig.project()
        row = await rig.pool.fetchrow(
            "SELECT status, found FROM visit_tasks WHERE task_id = $1", task_id
        )
        assert row is not None and (row["status"], row["found"]) == ("completed", True)
        await record(handle, "case_overdue_declined")

"""Long-running cases continue as new before their history grows large, carrying their state:
the trigger dedupe set, the open task, the reminder schedule (absolute deadlines)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from outreach.events import samples as s
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import TRIGGERS_QUERY, VISIT_RESULT_UPDATE, UpdateAck
from tests.case_support import case_rig, new_household, not_found
from tests.replay.recording import record


async def test_case_continues_as_new_and_carries_its_state(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    async with case_rig(time_skipping_env, store, history_limit=20, max_visit_attempts=2) as rig:
        household_id, id_number = new_household("yongding")
        trigger = await rig.agency_event(
            s.certificate_issued(household_id=household_id, id_number=id_number)
        )
        handle = await rig.open_case(trigger)
        task_id = await rig.open_task(handle)
        first_run = (await handle.describe()).run_id

        # Visits and reminders grow the history past the limit.
        ack = await handle.execute_update(
            VISIT_RESULT_UPDATE, not_found(task_id, await rig.today()), result_type=UpdateAck
        )
        assert ack.task_id is not None
        await time_skipping_env.sleep(timedelta(days=3, seconds=1))  # reminder 1
        status = await rig.until(handle, lambda st: st.run_count > 1, what="continue-as-new")
        assert (await handle.describe()).run_id != first_run
        assert status.case_id and status.triggers == (trigger.event_id,)
        assert status.open_task is not None and status.open_task.task_id == ack.task_id
        assert status.reminders_sent >= 1

        # A redelivered trigger is still recognised in the new run.
        await rig.signal(trigger)
        assert await handle.query(TRIGGERS_QUERY) == [trigger.event_id]

        await handle.execute_update(
            VISIT_RESULT_UPDATE, not_found(ack.task_id, await rig.today()), result_type=UpdateAck
        )
        outcome = await handle.result()  # remaining reminders, then unreachable
        assert outcome.outcome == "unreachable"
        assert "2 visit attempt(s) and 3 reminder(s)" in outcome.reason
        events = [t for t, _ in await rig.events(trigger.household_key, outcome.case_id)]
        assert events.count("ReminderSent") == 3  # none lost or repeated across runs
        assert events.count("CaseOpened") == 1 and events[-1] == "CaseClosed"
        await record(handle, "case_continued")

"""Cases that must never be lost on the real Temporal server: a value ingest's edge would
refuse (the workflow bounds its search attributes itself, so Temporal never terminates it), the
mechanism that could leave a case stuck (regular activities, not local ones), and a stuck case
shown to ops."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outreach.cases import views as case_views
from outreach.cases.access import Principal
from outreach.cases.views import StuckCase
from outreach.events import samples as s
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import WORKFLOW_TYPE
from outreach.workflows.outreach_case import DISTRICT_KEY, KEYWORD_BYTES, keyword
from tests.case_support import case_rig, new_household


async def test_a_district_past_the_search_attribute_limit_does_not_end_the_case(
    temporal_client: Client, store: EventStore
) -> None:
    """Regression (poison input #6): Temporal terminated the case (``OutreachDistrict value
    size 10002 exceeds size limit 2048``) after its first steps were stored: an orphaned case."""
    async with case_rig(temporal_client, store) as rig:
        household_id, id_number = new_household()
        trigger = await rig.agency_event(
            s.settlement_recorded(household_id=household_id, id_number=id_number)
        )
        # past the edge's bound: as if an older ingest had let it in
        long = dataclasses.replace(trigger, district="区" * 10_000)
        handle = await rig.open_case(long)
        await rig.open_task(handle)
        await asyncio.sleep(1.0)  # a terminated case would show it by now

        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        published = description.typed_search_attributes.get(DISTRICT_KEY)
        assert published == keyword("区" * 10_000)
        assert published is not None and len(published.encode()) <= KEYWORD_BYTES
        assert published == "区" * (KEYWORD_BYTES // 3)


def test_keyword_cuts_on_a_character_boundary_and_leaves_short_values_alone() -> None:
    assert keyword("yongding") == "yongding"
    assert keyword("a" * KEYWORD_BYTES) == "a" * KEYWORD_BYTES
    assert keyword("a" * (KEYWORD_BYTES - 1) + "区") == "a" * (KEYWORD_BYTES - 1)


async def test_a_case_runs_its_steps_as_regular_activities(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    """Regression (poison input #8): a case was stuck for good (``[TMPRL1100] Nondeterminism
    error: Missing associated machine for LocalActivity(4)``) after a local activity was
    retried while Postgres was down and two more steps shared its workflow task. A new case
    runs no local activity: each step is scheduled by the server and completes as an event of
    its own, so a failed workflow task has no marker to mismatch and leaves no step behind."""
    async with case_rig(time_skipping_env, store) as rig:
        case = await rig.hospital_case()
        history = await case.handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in kinds
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert "core_local_activity" not in markers


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class _BrokenCase:
    """Stands in for a case whose code cannot get past its workflow task."""

    @workflow.run
    async def run(self, *_: object) -> None:
        raise RuntimeError("this workflow task fails every time")


async def test_a_case_whose_workflow_task_keeps_failing_is_listed_for_ops(
    temporal_client: Client, pg_pool: asyncpg.Pool, unique: str
) -> None:
    """Regression (poison input #8): a stuck case answered every visit completion with 503
    (7,262 times in 75 minutes) and nothing told ops. Temporal flags a workflow whose task
    failed twice in a row; the overview lists those cases (API and page)."""
    queue = f"broken-{unique}"
    workflow_id = f"outreach-case-broken-{unique}"
    async with Worker(temporal_client, task_queue=queue, workflows=[_BrokenCase]):
        handle = await temporal_client.start_workflow(
            WORKFLOW_TYPE,
            id=workflow_id,
            task_queue=queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(DISTRICT_KEY, "cili")]),
        )
        try:
            ops = Principal(name="ops", role="ops", districts=None)
            stuck: list[StuckCase] | None = []
            for _ in range(100):
                overview = await case_views.overview(pg_pool, ops, temporal=temporal_client)
                stuck = overview.stuck_cases
                if stuck and any(c.workflow_id == workflow_id for c in stuck):
                    break
                await asyncio.sleep(0.3)
            assert stuck is not None
            [mine] = [c for c in stuck if c.workflow_id == workflow_id]
            assert mine.district == "cili"
            assert any("WorkflowTaskFailed" in p for p in mine.problems), mine.problems
            # a supervisor of another district does not see it
            other = Principal(name="s", role="supervisor", districts=frozenset({"yongding"}))
            listed = await case_views.stuck_cases(temporal_client, other)
            assert listed is not None and workflow_id not in {c.workflow_id for c in listed}
        finally:
            await handle.terminate("test finished")

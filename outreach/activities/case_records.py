"""Recording the case's domain events (those with no other side effect)."""

from __future__ import annotations

from temporalio import activity

from outreach.activities.context import ActivityContext
from outreach.activities.recording import append_case_events
from outreach.infra.log import bind_case, get_logger
from outreach.workflows.case_data import RecordEvents

__all__ = ["RecordActivities"]

log = get_logger(__name__)


class RecordActivities:
    def __init__(self, context: ActivityContext) -> None:
        self._ctx = context

    @activity.defn(name="record_case_events")
    async def record_case_events(self, request: RecordEvents) -> None:
        """Append the events as one batch; a retry finds them stored and writes nothing."""
        bind_case(case_id=request.case_id, household=request.household_key)
        result = await append_case_events(
            self._ctx.store, request.case_id, request.household_key, request.events, request.at
        )
        log.info(
            "case events recorded",
            types=[e.type for e in request.events],
            duplicate=result.duplicate,
        )

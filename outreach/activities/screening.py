"""Screening's inputs: the policy values a case runs on and the household's facts."""

from __future__ import annotations

from temporalio import activity

from outreach.activities.context import ActivityContext
from outreach.activities.facts import read_household_facts
from outreach.infra.log import bind_case, get_logger
from outreach.workflows.case_data import CasePolicy, ScreeningInputs, ScreeningRequest

__all__ = ["ScreeningActivities"]

log = get_logger(__name__)


class ScreeningActivities:
    def __init__(self, context: ActivityContext) -> None:
        self._ctx = context

    @activity.defn(name="gather_screening_inputs")
    async def gather_screening_inputs(self, request: ScreeningRequest) -> ScreeningInputs:
        """The durations and trigger threshold in force for the district today, and the facts.

        Read-only: retrying it is harmless. The workflow keeps the policy values for the life
        of the case, so the timers of a running case do not move when the policy file changes.
        """
        bind_case(case_id=request.case_id, household=request.household_key)
        policy = self._ctx.policy
        durations = policy.durations_at(request.on, request.district)
        trigger, _ = policy.value_at("medical_out_of_pocket_trigger", request.on, request.district)
        async with self._ctx.pool.acquire() as conn:
            facts = await read_household_facts(conn, request.household_key)
        log.info(
            "screening inputs read",
            facts=list(facts.kinds),
        )
        return ScreeningInputs(
            policy=CasePolicy(
                reminder_interval=durations.reminder_interval,
                visit_sla=durations.visit_sla,
                publicity=durations.publicity,
                max_reminders=durations.max_reminders,
                max_visit_attempts=self._ctx.max_visit_attempts,
                medical_trigger=trigger,
                history_limit=self._ctx.history_limit,
            ),
            facts=facts,
        )

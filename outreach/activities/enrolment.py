"""The end of a case: enrolment (outbound ``outreach.enrollment.finalized``) and closing
(outbound ``outreach.case.closed``), each one append with its outbox message.

The CloudEvents ``id`` of an outbound message is the id of the domain event that causes it and
its ``time`` the step's time from the workflow, so a retried activity records (and the relay
publishes) the same message, never a second one.
"""

from __future__ import annotations

from datetime import date

from temporalio import activity

from outreach.activities.context import ActivityContext
from outreach.activities.household import household_id_of
from outreach.activities.keys import step_id
from outreach.activities.recording import append_case_events, outbox_message
from outreach.events.outbound import CaseClosed, EnrollmentFinalized, Outcome
from outreach.events.outbound import ProgrammeAward as OutboundAward
from outreach.infra.log import bind_case, get_logger
from outreach.policy.programmes import Programme
from outreach.workflows.case_contract import Stage
from outreach.workflows.case_data import CaseClosing, DomainEvent, Enrolment

__all__ = ["EnrolmentActivities", "next_review_on"]

log = get_logger(__name__)


def next_review_on(enrolled_on: date) -> date:
    """One year after ``enrolled_on`` (29 February reviews on 28 February)."""
    try:
        return enrolled_on.replace(year=enrolled_on.year + 1)
    except ValueError:
        return enrolled_on.replace(year=enrolled_on.year + 1, day=28)


class EnrolmentActivities:
    def __init__(self, context: ActivityContext) -> None:
        self._ctx = context

    @activity.defn(name="finalize_enrolment")
    async def finalize_enrolment(self, request: Enrolment) -> None:
        bind_case(case_id=request.case_id, household=request.household_key)
        assessment = request.assessment
        event_id = step_id(request.case_id, request.step)
        household_id = await household_id_of(
            self._ctx.store, request.household_key, request.trigger_event_ids
        )
        outbound = EnrollmentFinalized(
            case_id=request.case_id,
            household_id=household_id,
            district=request.district,
            programmes=[
                OutboundAward(
                    programme=Programme(a.programme),
                    monthly_amount=a.monthly_amount,
                    one_off_amount=a.one_off_amount,
                    effective_from=a.effective_from,
                )
                for a in assessment.awards
            ],
            decided_at=assessment.decided_at,
            decision_trace=assessment.trace,
        )
        enrolled_on = assessment.decided_on
        event = DomainEvent(
            type="EnrollmentFinalized",
            step=request.step,
            data={
                "case_id": request.case_id,
                "stage": Stage.ENROL.value,
                "district": request.district,
                "urban": request.urban,
                "decision_id": assessment.decision_id,
                "decided_at": assessment.decided_at.isoformat(),
                "programmes": [a.to_dict() for a in assessment.awards],
                "circumstances": assessment.circumstances,
                "next_review_on": next_review_on(enrolled_on).isoformat(),
            },
        )
        message = outbox_message(outbound, event_id, request.at)
        result = await append_case_events(
            self._ctx.store,
            request.case_id,
            request.household_key,
            [event],
            request.at,
            outbox=[message],
        )
        log.info(
            "enrolment finalized",
            programmes=[a.programme for a in assessment.awards],
            duplicate=result.duplicate,
        )

    @activity.defn(name="close_case")
    async def close_case(self, request: CaseClosing) -> None:
        bind_case(case_id=request.case_id, household=request.household_key)
        event_id = step_id(request.case_id, request.step)
        household_id = await household_id_of(
            self._ctx.store, request.household_key, request.trigger_event_ids
        )
        outbound = CaseClosed(
            case_id=request.case_id,
            household_id=household_id,
            outcome=Outcome(request.outcome),
            reason=request.reason,
        )
        closed = DomainEvent(
            type="CaseClosed",
            step=request.step,
            data={
                "case_id": request.case_id,
                "stage": Stage.CLOSED.value,
                "outcome": request.outcome,
                "reason": request.reason,
            },
        )
        message = outbox_message(outbound, event_id, request.at)
        result = await append_case_events(
            self._ctx.store,
            request.case_id,
            request.household_key,
            [*request.extra, closed],
            request.at,
            outbox=[message],
        )
        log.info("case closed", outcome=request.outcome, duplicate=result.duplicate)

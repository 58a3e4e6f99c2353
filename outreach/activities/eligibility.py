"""The decision: the policy engine on the verified circumstances, recorded with its trace.

The engine itself (``outreach.policy``) is pure; it runs here rather than in the workflow so the
decision, trace included, is recorded in the case's history as an activity result: a later fix
to a rule or a new policy file never changes what a running case already decided, and replaying
its history never re-evaluates rules.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity

from outreach.activities.context import ActivityContext
from outreach.activities.recording import append_case_events
from outreach.infra.log import bind_case, get_logger
from outreach.policy.circumstances import HouseholdCircumstances
from outreach.policy.decision import Decision, decide
from outreach.workflows.case_contract import Stage
from outreach.workflows.case_data import Assessment, AssessRequest, AwardLine, DomainEvent

__all__ = ["EligibilityActivities", "assessment_of", "circumstances_dict", "summary_of"]

log = get_logger(__name__)


def circumstances_dict(c: HouseholdCircumstances) -> dict[str, Any]:
    """The figures a decision used, JSON-safe (for the timeline and the annual review)."""
    return {
        "district": c.district_key,
        "urban": c.urban,
        "household_size": c.household_size,
        "monthly_income_total": str(c.monthly_income_total),
        "labor_capacities": [lc.value for lc in c.labor_capacities],
        "has_supporter": c.has_supporter,
        "assets": {
            "vehicles": c.assets.vehicles,
            "homes": c.assets.homes,
            "business_premises": c.assets.business_premises,
            "financial_assets": str(c.assets.financial_assets),
        },
        "disability_certificates": [
            {"category": d.category.value, "grade": d.grade} for d in c.disability_certificates
        ],
        "medical_out_of_pocket": [str(a) for a in c.medical_out_of_pocket],
        "existing_benefits": [p.value for p in c.existing_benefits],
    }


def summary_of(decision: Decision) -> str:
    """One line: what was awarded, or why nothing was."""
    awards = decision.new_awards
    if awards:
        parts = []
        for award in awards:
            if award.monthly_amount is not None:
                parts.append(f"{award.programme.value} {award.monthly_amount}/month")
            else:
                parts.append(f"{award.programme.value} {award.one_off_amount} once")
        return "awarded " + ", ".join(parts)
    if decision.awards:
        held = ", ".join(p.value for p in decision.already_receiving)
        return f"qualifies only for what the household already receives ({held})"
    failed: list[str] = []
    for programme in dict.fromkeys(check.programme for check in decision.trace):
        first = next((c for c in decision.checks(programme) if not c.passed), None)
        if first is not None:
            failed.append(f"{programme}: {first.explanation}")
    return "not eligible: " + "; ".join(failed)


def assessment_of(decision: Decision, request: AssessRequest) -> Assessment:
    return Assessment(
        decision_id=request.decision_id,
        decided_on=decision.decided_on,
        decided_at=request.at,
        awards=tuple(
            AwardLine(
                programme=a.programme.value,
                effective_from=a.effective_from,
                monthly_amount=a.monthly_amount,
                one_off_amount=a.one_off_amount,
            )
            for a in decision.new_awards
        ),
        trace=decision.trace_to_dicts(),
        summary=summary_of(decision),
        circumstances=circumstances_dict(request.circumstances),
    )


class EligibilityActivities:
    def __init__(self, context: ActivityContext) -> None:
        self._ctx = context

    @activity.defn(name="assess_eligibility")
    async def assess_eligibility(self, request: AssessRequest) -> Assessment:
        """Decide on ``request.on`` with the parameters in force that day; record the decision."""
        bind_case(case_id=request.case_id, household=request.household_key)
        decision = decide(request.circumstances, request.on, self._ctx.policy)
        assessment = assessment_of(decision, request)
        event = DomainEvent(
            type="EligibilityAssessed",
            step=request.step,
            data={
                "case_id": request.case_id,
                "stage": Stage.DECIDE.value,
                "decision_id": request.decision_id,
                "decided_on": decision.decided_on.isoformat(),
                "eligible": assessment.eligible,
                "programmes": [a.to_dict() for a in assessment.awards],
                "already_receiving": [p.value for p in decision.already_receiving],
                "summary": assessment.summary,
                "circumstances": assessment.circumstances,
                "trace": assessment.trace,
            },
        )
        await append_case_events(
            self._ctx.store, request.case_id, request.household_key, [event], request.at
        )
        log.info(
            "eligibility assessed",
            decision_id=request.decision_id,
            decided_on=decision.decided_on.isoformat(),
            programmes=[a.programme for a in assessment.awards],
        )
        return assessment

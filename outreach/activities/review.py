"""The annual review: re-check an enrolled household against fresh facts, end what no longer
applies.

The decision the household was enrolled on stored its figures (``circumstances``). The review
takes them, refreshes income and assets from the ``household_facts`` projection (the larger of
stored and reported, as in verification), and asks the policy engine again on the review date.
Recurring programmes that are no longer awarded end: ``EnrollmentReviewed`` records the result
(and moves the next review a year on while something continues), and an
``outreach.enrollment.terminated`` message names the programmes that ended. One-off awards
(temporary assistance) are not reviewed. Idempotent by the case and the review's due date.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from temporalio import activity

from outreach.activities.context import ActivityContext
from outreach.activities.eligibility import circumstances_dict
from outreach.activities.enrolment import next_review_on
from outreach.activities.facts import read_household_facts
from outreach.activities.household import household_id_of
from outreach.activities.keys import step_id
from outreach.activities.recording import append_case_events, outbox_message
from outreach.events.outbound import EnrollmentTerminated
from outreach.infra.log import bind_case, get_logger
from outreach.policy.circumstances import (
    Assets,
    DisabilityCategory,
    DisabilityCertificate,
    HouseholdCircumstances,
    LaborCapacity,
)
from outreach.policy.decision import decide
from outreach.policy.programmes import Programme
from outreach.projections.case_tasks import programmes_of
from outreach.store.event_store import OutboxMessage
from outreach.workflows.case_data import DomainEvent, HouseholdFacts
from outreach.workflows.review_data import (
    DueEnrolment,
    DueRequest,
    ReviewOutcome,
    ReviewRequest,
)

__all__ = ["ReviewActivities", "review_circumstances"]

log = get_logger(__name__)


def review_circumstances(stored: dict[str, Any], facts: HouseholdFacts) -> HouseholdCircumstances:
    """The enrolment's stored figures, refreshed with the household's current facts."""
    assets = stored.get("assets") or {}
    income = Decimal(str(stored.get("monthly_income_total", "0")))
    if facts.monthly_income is not None or facts.pension_monthly is not None:
        reported = (facts.monthly_income or Decimal(0)) + (facts.pension_monthly or Decimal(0))
        income = max(income, reported)
    return HouseholdCircumstances(
        district=str(stored.get("district", "")),
        urban=bool(stored.get("urban", True)),
        household_size=int(stored.get("household_size", 1)),
        monthly_income_total=income,
        labor_capacities=tuple(LaborCapacity(v) for v in stored.get("labor_capacities", [])),
        has_supporter=bool(stored.get("has_supporter", True)),
        assets=Assets(
            vehicles=max(int(assets.get("vehicles", 0)), facts.vehicles or 0),
            homes=max(int(assets.get("homes", 0)), facts.homes or 0),
            business_premises=max(
                int(assets.get("business_premises", 0)), facts.business_premises or 0
            ),
            financial_assets=Decimal(str(assets.get("financial_assets", "0"))),
        ),
        disability_certificates=tuple(
            DisabilityCertificate(DisabilityCategory(d["category"]), int(d["grade"]))
            for d in stored.get("disability_certificates", [])
        ),
    )


class ReviewActivities:
    def __init__(self, context: ActivityContext) -> None:
        self._ctx = context

    @activity.defn(name="due_enrolments")
    async def due_enrolments(self, request: DueRequest) -> list[DueEnrolment]:
        async with self._ctx.pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT case_id, household, next_review_on FROM enrolments
                WHERE status = 'active' AND next_review_on <= $1 AND case_id > $2
                ORDER BY case_id LIMIT $3
                """,
                request.as_of,
                request.after_case_id,
                request.limit,
            )
        return [DueEnrolment(r["case_id"], r["household"], r["next_review_on"]) for r in rows]

    @activity.defn(name="review_enrolment")
    async def review_enrolment(self, request: ReviewRequest) -> ReviewOutcome:
        bind_case(case_id=request.case_id, household=request.household_key)
        async with self._ctx.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT district, urban, programmes, circumstances, status, next_review_on"
                " FROM enrolments WHERE case_id = $1",
                request.case_id,
            )
            facts = await read_household_facts(conn, request.household_key)
        if row is None or row["status"] != "active" or row["next_review_on"] != request.due_on:
            return ReviewOutcome(request.case_id, "skipped")
        stored = json.loads(row["circumstances"])
        stored.setdefault("district", row["district"])
        stored.setdefault("urban", row["urban"])
        circumstances = review_circumstances(stored, facts)
        decision = decide(circumstances, request.as_of, self._ctx.policy)
        awards = programmes_of(row["programmes"])
        recurring = [a for a in awards if a.get("monthly_amount") is not None]
        continued = [a for a in recurring if decision.award(str(a["programme"])) is not None]
        ended = [str(a["programme"]) for a in recurring if a not in continued]
        status = "active" if continued else "terminated"
        step = f"review-{request.due_on.isoformat()}"
        event_id = step_id(request.case_id, step)
        reason = "annual review: " + (
            "every programme continues"
            if not ended
            else f"{', '.join(ended)} no longer awarded on {request.as_of.isoformat()}"
        )
        event = DomainEvent(
            type="EnrollmentReviewed",
            step=step,
            data={
                "case_id": request.case_id,
                "due_on": request.due_on.isoformat(),
                "reviewed_on": request.as_of.isoformat(),
                "status": status,
                "programmes": continued,
                "ended": ended,
                "next_review_on": next_review_on(request.due_on).isoformat() if continued else None,
                "reason": reason,
                "circumstances": circumstances_dict(circumstances),
                "trace": decision.trace_to_dicts(),
            },
        )
        outbox: list[OutboxMessage] = []
        if ended:
            household_id = await household_id_of(self._ctx.store, request.household_key, [])
            message = EnrollmentTerminated(
                case_id=request.case_id,
                household_id=household_id,
                district=row["district"],
                programmes=[Programme(p) for p in ended],
                effective_to=request.as_of,
                reviewed_at=request.at,
                reason=reason,
                decision_trace=decision.trace_to_dicts(),
            )
            outbox.append(outbox_message(message, event_id, request.at))
        await append_case_events(
            self._ctx.store,
            request.case_id,
            request.household_key,
            [event],
            request.at,
            outbox=outbox,
        )
        log.info("enrolment reviewed", status=status, ended=ended)
        return ReviewOutcome(
            request.case_id,
            status,
            continued=tuple(str(a["programme"]) for a in continued),
            ended=tuple(ended),
        )

"""The economic-status check (核对): the visit's figures against the agencies' facts.

Run only with the household's consent. Income: the larger of the visit's monthly figure and
the agencies' (income plus pension), since an understated income is what the check is for;
assets: the larger count of each kind. Every difference is recorded as a discrepancy in the
``EconomicStatusChecked`` event, for the caseworker and the supervisor to see.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from temporalio import activity

from outreach.activities.context import ActivityContext
from outreach.activities.facts import read_household_facts
from outreach.activities.recording import append_case_events
from outreach.infra.log import bind_case, get_logger
from outreach.workflows.case_contract import Stage, VisitAssets
from outreach.workflows.case_data import (
    DomainEvent,
    EconomicCheck,
    EconomicCheckRequest,
    HouseholdFacts,
)

__all__ = ["VerificationActivities", "compare"]

log = get_logger(__name__)


def compare(request: EconomicCheckRequest, facts: HouseholdFacts) -> EconomicCheck:
    """The verified figures and discrepancies (pure)."""
    discrepancies: list[str] = []
    income = request.monthly_income_total
    reported = None
    if facts.monthly_income is not None or facts.pension_monthly is not None:
        reported = (facts.monthly_income or Decimal(0)) + (facts.pension_monthly or Decimal(0))
    if reported is not None and reported > income:
        discrepancies.append(
            f"income: visit {income}/month, agencies report {reported}/month (used)"
        )
        income = reported
    assets = request.assets

    def larger(name: str, seen: int, known: int | None) -> int:
        if known is not None and known > seen:
            discrepancies.append(f"{name}: visit {seen}, agencies report {known} (used)")
            return known
        return seen

    verified = replace(
        assets,
        homes=larger("homes", assets.homes, facts.homes),
        vehicles=larger("vehicles", assets.vehicles, facts.vehicles),
        business_premises=larger(
            "business_premises", assets.business_premises, facts.business_premises
        ),
    )
    return EconomicCheck(
        monthly_income_total=income,
        assets=verified,
        existing_benefits=facts.benefits,
        discrepancies=tuple(discrepancies),
    )


def _assets_dict(assets: VisitAssets) -> dict[str, object]:
    return {
        "vehicles": assets.vehicles,
        "homes": assets.homes,
        "business_premises": assets.business_premises,
        "financial_assets": str(assets.financial_assets),
    }


class VerificationActivities:
    def __init__(self, context: ActivityContext) -> None:
        self._ctx = context

    @activity.defn(name="check_economic_status")
    async def check_economic_status(self, request: EconomicCheckRequest) -> EconomicCheck:
        bind_case(case_id=request.case_id, household=request.household_key)
        async with self._ctx.pool.acquire() as conn:
            facts = await read_household_facts(conn, request.household_key)
        check = compare(request, facts)
        event = DomainEvent(
            type="EconomicStatusChecked",
            step=request.step,
            data={
                "case_id": request.case_id,
                "stage": Stage.VERIFY.value,
                "facts_used": list(facts.kinds),
                "monthly_income_total": str(check.monthly_income_total),
                "assets": _assets_dict(check.assets),
                "existing_benefits": list(check.existing_benefits),
                "discrepancies": list(check.discrepancies),
            },
        )
        await append_case_events(
            self._ctx.store, request.case_id, request.household_key, [event], request.at
        )
        log.info("economic status checked", discrepancies=len(check.discrepancies))
        return check

"""The household's circumstances for the policy engine, from what the case has learned.

Pure (runs in the workflow): the visit gives the household's size, labour capacities and
supporter; the economic-status check gives the verified income, assets and existing benefits;
the triggers give disability certificates and hospital bills.
"""

from __future__ import annotations

from collections.abc import Sequence

from outreach.policy.circumstances import Assets, HouseholdCircumstances
from outreach.policy.programmes import Programme
from outreach.policy.rules import is_severe_disability
from outreach.workflows.case_contract import Trigger, VisitResult
from outreach.workflows.case_data import EconomicCheck
from outreach.workflows.screening import SETTLEMENT, certificate_of

__all__ = ["circumstances_for"]

_PROGRAMMES = frozenset(p.value for p in Programme)


def circumstances_for(
    district: str,
    urban: bool,
    visit: VisitResult,
    check: EconomicCheck,
    triggers: Sequence[Trigger],
) -> HouseholdCircumstances:
    """Circumstances for a decision: ``visit`` must be a found visit (validated)."""
    assert visit.found and visit.household_size is not None
    size = visit.household_size
    certificates = [c for c in (certificate_of(t) for t in triggers) if c is not None]
    # One certificate per person: more certificates than members means re-issued ones; keep
    # the most severe, as many as there are members.
    certificates.sort(key=lambda c: (not is_severe_disability(c), c.grade))
    bills = tuple(
        t.out_of_pocket for t in triggers if t.event_type == SETTLEMENT and t.out_of_pocket
    )
    assets = check.assets
    return HouseholdCircumstances(
        district=district,
        urban=urban,
        household_size=size,
        monthly_income_total=check.monthly_income_total,
        labor_capacities=visit.labor_capacity,
        has_supporter=True if visit.has_supporter is None else visit.has_supporter,
        assets=Assets(
            vehicles=assets.vehicles,
            homes=assets.homes,
            business_premises=assets.business_premises,
            financial_assets=assets.financial_assets,
        ),
        disability_certificates=tuple(certificates[:size]),
        medical_out_of_pocket=bills,
        existing_benefits=tuple(Programme(b) for b in check.existing_benefits if b in _PROGRAMMES),
    )

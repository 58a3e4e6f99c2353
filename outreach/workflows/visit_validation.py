"""Checks on a visit result before it may enter a case (the update validator's rules).

Pure: returns the problems found (empty when the result is acceptable). The workflow's
validator raises them, so the update is rejected before it is written to history and the case
is unchanged; the API answers 422 with the same text.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final

from outreach.policy.circumstances import Assets, HouseholdCircumstances
from outreach.workflows.case_contract import VisitResult, is_sealed

__all__ = ["MAX_HOUSEHOLD_SIZE", "MAX_NOTES", "visit_result_problems"]

MAX_HOUSEHOLD_SIZE: Final = 30
MAX_NOTES: Final = 4000
# sealed notes: prefix, key id, base64 of nonce + ciphertext (up to 4 UTF-8 bytes a character)
MAX_SEALED_NOTES: Final = 100 + (12 + 16 + 4 * MAX_NOTES) * 4 // 3 + 4
_MAX_AMOUNT: Final = Decimal("100000000")


def visit_result_problems(result: VisitResult, today: date, opened_on: date) -> list[str]:
    """What is wrong with ``result`` for a task of a case opened on ``opened_on``."""
    problems: list[str] = []
    if result.visited_on > today:
        problems.append(f"visited_on {result.visited_on} is in the future (today is {today})")
    if result.visited_on < opened_on:
        problems.append(f"visited_on {result.visited_on} is before the case opened ({opened_on})")
    if len(result.notes) > (MAX_SEALED_NOTES if is_sealed(result.notes) else MAX_NOTES):
        problems.append(f"notes longer than {MAX_NOTES} characters")
    if not result.found:
        return problems
    size = result.household_size
    if size is None:
        problems.append("household_size is required when the household was found")
    elif not 1 <= size <= MAX_HOUSEHOLD_SIZE:
        problems.append(f"household_size must be 1-{MAX_HOUSEHOLD_SIZE}, got {size}")
    income = result.monthly_income_total
    if income is None:
        problems.append("monthly_income_total is required when the household was found")
    elif not income.is_finite() or income < 0 or income > _MAX_AMOUNT:
        problems.append(f"monthly_income_total must be a non-negative amount, got {income}")
    if size is not None and len(result.labor_capacity) != size:
        problems.append(
            f"labor_capacity needs one entry per member ({size}), got {len(result.labor_capacity)}"
        )
    assets = result.assets
    if min(assets.vehicles, assets.homes, assets.business_premises) < 0:
        problems.append("asset counts must not be negative")
    if not assets.financial_assets.is_finite() or assets.financial_assets < 0:
        problems.append("assets.financial_assets must be a non-negative amount")
    if problems:
        return problems
    assert size is not None and income is not None
    try:  # the policy engine's own consistency rules
        HouseholdCircumstances(
            district="-",
            urban=True,
            household_size=size,
            monthly_income_total=income,
            labor_capacities=result.labor_capacity,
            assets=Assets(
                vehicles=assets.vehicles,
                homes=assets.homes,
                business_premises=assets.business_premises,
                financial_assets=assets.financial_assets,
            ),
        )
    except ValueError as exc:
        problems.append(str(exc))
    return problems

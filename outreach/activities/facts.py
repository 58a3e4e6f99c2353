"""The household's facts from the ``household_facts`` projection, turned into numbers.

Facts (CONTRACT.md ``facts.household.reported``) have a ``kind`` and an optional ``amount``,
``count``, ``period`` and ``detail``. Read as:

- ``income`` / ``pension``: ``amount`` per ``period`` (``month`` when absent; ``year`` /
  ``annual`` divided by 12, ``week`` x 52 / 12, ``day`` x 365 / 12);
- ``real_estate`` / ``vehicle`` / ``business``: ``count`` (1 when a fact has no count);
- ``benefit``: the programme named by ``detail`` (a string, or an object with ``programme``)
  or by ``period`` when the agency put it there.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final

from outreach.policy.programmes import programme_named
from outreach.store.database import Conn
from outreach.workflows.case_data import HouseholdFacts

__all__ = ["monthly_amount", "read_household_facts"]

_PER_MONTH: Final[dict[str, Decimal]] = {
    "month": Decimal(1),
    "monthly": Decimal(1),
    "year": Decimal(1) / 12,
    "yearly": Decimal(1) / 12,
    "annual": Decimal(1) / 12,
    "week": Decimal(52) / 12,
    "weekly": Decimal(52) / 12,
    "day": Decimal(365) / 12,
    "daily": Decimal(365) / 12,
}


def monthly_amount(amount: Decimal, period: str | None) -> Decimal:
    """``amount`` per ``period`` as a monthly amount (to the fen)."""
    factor = _PER_MONTH.get((period or "month").strip().lower(), Decimal(1))
    return (amount * factor).quantize(Decimal("0.01"))


def _count(row: Any) -> int:
    count = row["count"]
    return int(count) if count is not None else 1


def _benefit(row: Any) -> str | None:
    detail: Any = row["detail"]
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            pass
    programme = programme_named(detail) or programme_named(row["period"])
    return None if programme is None else programme.value


async def read_household_facts(conn: Conn, household_key: str) -> HouseholdFacts:
    rows = await conn.fetch(
        "SELECT kind, amount, count, period, detail FROM household_facts WHERE household = $1"
        " ORDER BY kind",
        household_key,
    )
    income: Decimal | None = None
    pension: Decimal | None = None
    homes = vehicles = business = None
    benefits: list[str] = []
    for row in rows:
        kind = row["kind"]
        amount = row["amount"]
        if kind == "income" and amount is not None:
            income = monthly_amount(Decimal(amount), row["period"])
        elif kind == "pension" and amount is not None:
            pension = monthly_amount(Decimal(amount), row["period"])
        elif kind == "real_estate":
            homes = _count(row)
        elif kind == "vehicle":
            vehicles = _count(row)
        elif kind == "business":
            business = _count(row)
        elif kind == "benefit":
            programme = _benefit(row)
            if programme is not None:
                benefits.append(programme)
    return HouseholdFacts(
        monthly_income=income,
        pension_monthly=pension,
        homes=homes,
        vehicles=vehicles,
        business_premises=business,
        benefits=tuple(benefits),
        kinds=tuple(row["kind"] for row in rows),
    )

"""The visit form: its fields as entered, and the :class:`VisitResultIn` they make."""

# The form keeps what the person typed (strings) so a rejected submission re-renders with the same
# values. ``labor_capacity`` arrives as one select per member (repeated field name); the page's
# script keeps their number equal to the household size, and without the script the server renders
# as many rows as the size entered (the case's validator explains a mismatch).

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pydantic import ValidationError
from starlette.datastructures import FormData

from outreach.cases.commands import VisitResultIn
from outreach.workflows.visit_validation import MAX_HOUSEHOLD_SIZE

__all__ = ["LABOR_CHOICES", "VisitForm", "parse_visit_form"]

LABOR_CHOICES = ("full", "partial", "none")


@dataclass
class VisitForm:
    """What the form shows (defaults for a new visit, or what was entered)."""

    visited_on: str
    found: str = "yes"  # yes / no
    household_size: str = ""
    monthly_income_total: str = ""
    labor_capacity: list[str] = field(default_factory=list)
    consent_to_check: bool = False
    has_supporter: str = ""  # "" (unknown) / yes / no
    vehicles: str = "0"
    homes: str = "0"
    business_premises: str = "0"
    financial_assets: str = "0"
    notes: str = ""

    @classmethod
    def new(cls, today: date) -> VisitForm:
        return cls(visited_on=today.isoformat(), labor_capacity=[""])

    @property
    def member_rows(self) -> list[str]:
        """One labour-capacity value per member row to render (at least one row)."""
        rows = list(self.labor_capacity)
        try:
            size = int(self.household_size)
        except ValueError:
            size = 0
        size = min(max(size, 0), MAX_HOUSEHOLD_SIZE)
        if len(rows) < size:
            rows += [""] * (size - len(rows))
        return rows or [""]


def parse_visit_form(form: FormData) -> tuple[VisitForm, VisitResultIn | None, list[str]]:
    """The entered values, the request body they make (None if they do not fit), and the
    problems found (``field: message``)."""

    def text(name: str, default: str = "") -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else default

    entered = VisitForm(
        visited_on=text("visited_on"),
        found="no" if text("found") == "no" else "yes",
        household_size=text("household_size"),
        monthly_income_total=text("monthly_income_total"),
        labor_capacity=[v for v in form.getlist("labor_capacity") if isinstance(v, str)],
        consent_to_check=form.get("consent_to_check") is not None,
        has_supporter=text("has_supporter"),
        vehicles=text("vehicles", "0") or "0",
        homes=text("homes", "0") or "0",
        business_premises=text("business_premises", "0") or "0",
        financial_assets=text("financial_assets", "0") or "0",
        notes=notes if isinstance(notes := form.get("notes"), str) else "",
    )
    body: dict[str, object] = {
        "visited_on": entered.visited_on or None,
        "found": entered.found == "yes",
        "notes": entered.notes,
    }
    if entered.found == "yes":
        body.update(
            household_size=entered.household_size or None,
            monthly_income_total=entered.monthly_income_total or None,
            labor_capacity=[v for v in entered.labor_capacity if v],
            consent_to_check=entered.consent_to_check,
            has_supporter={"yes": True, "no": False}.get(entered.has_supporter),
            assets={
                "vehicles": entered.vehicles,
                "homes": entered.homes,
                "business_premises": entered.business_premises,
                "financial_assets": entered.financial_assets,
            },
        )
    try:
        return entered, VisitResultIn.model_validate(body), []
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        return entered, None, problems

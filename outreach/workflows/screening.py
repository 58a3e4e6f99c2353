"""Screening: which programmes a household's triggers and facts suggest checking.

Pure and deterministic (it runs inside the workflow). Screening opens the process; it does not
limit the decision: the policy engine later assesses every programme, so a household is
awarded whatever it qualifies for even if screening did not foresee it.

- ``disability.certificate.issued``: the nursing subsidy when the disability is severe (grade
  1-2, or grade 3 intellectual/mental), the living subsidy and dibao (both means-tested).
- ``medical.settlement.recorded``: when the out-of-pocket amount reaches the policy's trigger
  (10,000 yuan by default), temporary assistance and dibao; below it, nothing.
- ``monitoring.household.listed``: dibao, and tekun when a member has no labour capacity.
- ``disability.certificate.expiring`` (renewal reminder) suggests nothing by itself.

Facts: a household whose facts say it already receives a programme is not offered it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from outreach.policy.circumstances import DisabilityCategory, DisabilityCertificate
from outreach.policy.programmes import Programme
from outreach.policy.rules import is_severe_disability
from outreach.workflows.case_contract import Trigger
from outreach.workflows.case_data import HouseholdFacts

__all__ = ["OPENING_TYPES", "Screening", "certificate_of", "screen"]

CERTIFICATE_ISSUED: Final = "disability.certificate.issued"
CERTIFICATE_EXPIRING: Final = "disability.certificate.expiring"
SETTLEMENT: Final = "medical.settlement.recorded"
MONITORING: Final = "monitoring.household.listed"
OPENING_TYPES: Final = frozenset({CERTIFICATE_ISSUED, SETTLEMENT, MONITORING})
"""Trigger types that may open a case (the others only join an open one)."""

_ORDER: Final = tuple(Programme)


@dataclass(frozen=True)
class Screening:
    """Programmes to check, in the policy's order, and one reason per trigger considered."""

    programmes: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def any(self) -> bool:
        return bool(self.programmes)


def certificate_of(trigger: Trigger) -> DisabilityCertificate | None:
    """The disability certificate a ``disability.certificate.issued`` trigger reports."""
    if trigger.event_type != CERTIFICATE_ISSUED:
        return None
    if trigger.certificate_category is None or trigger.certificate_grade is None:
        return None
    try:
        category = DisabilityCategory(trigger.certificate_category)
        return DisabilityCertificate(category=category, grade=trigger.certificate_grade)
    except ValueError:
        return None


def screen(
    triggers: Sequence[Trigger], facts: HouseholdFacts, medical_trigger: Decimal
) -> Screening:
    """The programmes to check for a household with these triggers and facts."""
    wanted: set[Programme] = set()
    reasons: list[str] = []
    for trigger in triggers:
        found, reason = _suggest(trigger, medical_trigger)
        wanted |= found
        reasons.append(reason)
    received = {p for p in Programme if p.value in facts.benefits}
    # Temporary assistance is a one-off: receiving it before does not rule it out now.
    dropped = sorted(p.value for p in (wanted & received) if p != Programme.TEMPORARY_ASSISTANCE)
    if dropped:
        reasons.append("already receives " + ", ".join(dropped))
    kept = tuple(p.value for p in _ORDER if p in wanted and p.value not in dropped)
    return Screening(programmes=kept, reasons=tuple(reasons))


def _suggest(trigger: Trigger, medical_trigger: Decimal) -> tuple[set[Programme], str]:
    kind = trigger.event_type
    if kind == CERTIFICATE_ISSUED:
        certificate = certificate_of(trigger)
        if certificate is None:
            return {Programme.DIBAO}, "disability certificate without category/grade: dibao"
        found = {Programme.DISABILITY_LIVING_SUBSIDY, Programme.DIBAO}
        text = f"disability certificate ({certificate.label})"
        if is_severe_disability(certificate):
            found.add(Programme.DISABILITY_NURSING_SUBSIDY)
            text += ", severe: nursing subsidy"
        return found, text + ", living subsidy and dibao to check"
    if kind == SETTLEMENT:
        amount = trigger.out_of_pocket
        if amount is not None and amount >= medical_trigger:
            return (
                {Programme.TEMPORARY_ASSISTANCE, Programme.DIBAO},
                f"hospital out-of-pocket {amount} >= {medical_trigger}: temporary assistance"
                " and dibao to check",
            )
        return set(), f"hospital out-of-pocket {amount} below {medical_trigger}: no trigger"
    if kind == MONITORING:
        found = {Programme.DIBAO}
        text = f"listed for poverty monitoring (risk {trigger.risk or 'unknown'}): dibao"
        if any(member.labor_capacity == "none" for member in trigger.members):
            found.add(Programme.TEKUN)
            text += " and tekun (a member without labour capacity)"
        return found, text + " to check"
    if kind == CERTIFICATE_EXPIRING:
        return set(), "certificate renewal reminder: nothing new to check"
    return set(), f"{kind}: no programme to check"

"""From a validated agency event to what its household's case is sent (``case_api``).

Personal data never enters Temporal (histories cannot be crypto-shredded), so a :class:`Trigger`
carries the event-store id of the stored event, the household's pseudonymous key and only the
non-identifying facts screening needs: no names, ID numbers, phones or addresses, no free-text
diagnosis or hospital. This module is pure: ingest calls it, tests check it field by field.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from outreach.events import (
    CaseEffect,
    DisabilityCertificateExpiring,
    DisabilityCertificateIssued,
    InboundEvent,
    MedicalSettlementRecorded,
    MonitoringHouseholdListed,
)
from outreach.workflows.case_contract import (
    CASE_NAMESPACE,
    CaseStart,
    MemberFacts,
    Trigger,
    case_id_for_trigger,
    case_workflow_id,
)

__all__ = ["CASE_NAMESPACE", "case_id_for", "case_start_for", "trigger_for", "workflow_id_for"]


def trigger_for(event: InboundEvent, household_key: str) -> Trigger | None:
    """The trigger for ``event``, or None for types that are never sent to a case (facts)."""
    if event.case_effect is CaseEffect.NONE:
        return None
    # Built in one go (dataclasses.replace on a base trigger cost more than the rest).
    common = partial(_trigger, event, household_key)
    if isinstance(event, DisabilityCertificateIssued):
        certificate = event.data.certificate
        return common(
            certificate_category=certificate.category.value,
            certificate_grade=certificate.grade,
            certificate_valid_until=certificate.valid_until.isoformat(),
        )
    if isinstance(event, DisabilityCertificateExpiring):
        return common(certificate_valid_until=event.data.certificate.valid_until.isoformat())
    if isinstance(event, MedicalSettlementRecorded):
        settlement = event.data.settlement
        return common(
            out_of_pocket=settlement.out_of_pocket,
            total_cost=settlement.total_cost,
            serious_illness=settlement.serious_illness,
        )
    if isinstance(event, MonitoringHouseholdListed):
        data = event.data
        return common(
            risk=data.risk.value,
            per_capita_annual_income=data.per_capita_annual_income,
            members=tuple(
                MemberFacts(
                    relation=member.relation,
                    labor_capacity=member.labor_capacity.value,
                    age=member.age,
                )
                for member in data.members
            ),
        )
    # A type added to the registry with a case effect but no mapping here: send the common
    # part rather than nothing, so the case still sees that something happened.
    return common()


def _trigger(
    event: InboundEvent,
    household_key: str,
    *,
    certificate_category: str | None = None,
    certificate_grade: int | None = None,
    certificate_valid_until: str | None = None,
    out_of_pocket: Decimal | None = None,
    total_cost: Decimal | None = None,
    serious_illness: bool | None = None,
    risk: str | None = None,
    per_capita_annual_income: Decimal | None = None,
    members: tuple[MemberFacts, ...] = (),
) -> Trigger:
    household = event.household
    return Trigger(
        event_id=str(event.event_uuid),
        event_type=event.type,
        source=event.source,
        occurred_at=event.time,
        household_key=household_key,
        district=household.district,
        urban=household.urban,
        certificate_category=certificate_category,
        certificate_grade=certificate_grade,
        certificate_valid_until=certificate_valid_until,
        out_of_pocket=out_of_pocket,
        total_cost=total_cost,
        serious_illness=serious_illness,
        risk=risk,
        per_capita_annual_income=per_capita_annual_income,
        members=members,
    )


def case_id_for(trigger: Trigger) -> str:
    """Stable case id for a case this trigger opens (a redelivery computes the same id); the
    rule lives in ``case_api`` because the case applies it too."""
    return case_id_for_trigger(trigger.event_id)


def case_start_for(trigger: Trigger) -> CaseStart:
    """Workflow input, used by Temporal only when the signal-with-start starts a new case."""
    return CaseStart(
        household_key=trigger.household_key,
        district=trigger.district,
        urban=trigger.urban,
        case_id=case_id_for(trigger),
    )


def workflow_id_for(trigger: Trigger) -> str:
    return case_workflow_id(trigger.household_key)

"""Data the case workflow exchanges with its activities (inputs, results, domain events).

Plain frozen dataclasses carried by Temporal's pydantic data converter: ``Decimal``, ``date``,
``datetime`` and ``timedelta`` survive the trip. Nothing here identifies a person: households
appear by their pseudonymous key, visits and facts by numbers. The one free-text field that may
say more (a visit's ``notes``) travels only inside a domain event's ``personal`` member, which
the event store encrypts with the household's key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from outreach.policy.circumstances import HouseholdCircumstances
from outreach.workflows.case_contract import VisitAssets

__all__ = [
    "AssessRequest",
    "Assessment",
    "AwardLine",
    "CaseClosing",
    "CasePolicy",
    "DomainEvent",
    "EconomicCheck",
    "EconomicCheckRequest",
    "Enrolment",
    "HouseholdFacts",
    "Notice",
    "RecordEvents",
    "ScreeningInputs",
    "ScreeningRequest",
]


@dataclass(frozen=True)
class CasePolicy:
    """The policy values a case runs on, fixed when it opens (a later policy change does not
    move the timers of a running case; its decision still uses the parameters in force on the
    decision date).

    ``max_visit_attempts``: home visits that find nobody before the case may end unreachable.
    ``history_limit``: Temporal history events after which the case continues as new.
    """

    reminder_interval: timedelta
    visit_sla: timedelta
    publicity: timedelta
    max_reminders: int
    max_visit_attempts: int
    medical_trigger: Decimal
    history_limit: int


@dataclass(frozen=True)
class HouseholdFacts:
    """The household's latest facts from the ``household_facts`` projection, as numbers.

    ``monthly_income``: reported income converted to a month (``None``: no income fact);
    ``pension_monthly`` likewise; counts are ``None`` when the agency reported nothing.
    ``benefits``: programmes the household already receives (facts of kind ``benefit``).
    """

    monthly_income: Decimal | None = None
    pension_monthly: Decimal | None = None
    homes: int | None = None
    vehicles: int | None = None
    business_premises: int | None = None
    benefits: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreeningRequest:
    case_id: str
    household_key: str
    district: str
    on: date


@dataclass(frozen=True)
class ScreeningInputs:
    """What screening reads: the policy values for the district and the household's facts."""

    policy: CasePolicy
    facts: HouseholdFacts


@dataclass(frozen=True)
class DomainEvent:
    """A domain event of the case. Its event id is derived from the case id and ``step`` (see
    ``outreach.activities.keys``), so recording it again after a retry is a no-op.

    ``data`` is JSON-safe; a ``personal`` member, if present, is stored encrypted.
    """

    type: str
    step: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RecordEvents:
    """Append ``events`` (one batch, all or nothing) to the household's stream at ``at``."""

    case_id: str
    household_key: str
    at: datetime
    events: tuple[DomainEvent, ...]


@dataclass(frozen=True)
class Notice:
    """A message to the household or to the district's supervisors, through the channel adapter.

    ``step`` makes it idempotent (the notification id and the domain event id derive from it).
    ``event`` is the domain event recorded once the message is handed over (e.g.
    ``ReminderSent``).
    """

    case_id: str
    household_key: str
    district: str
    step: str
    audience: str  # household | supervisor
    channel: str  # sms | phone | letter | inbox
    template: str
    params: dict[str, str]
    at: datetime
    event: DomainEvent | None = None


@dataclass(frozen=True)
class EconomicCheckRequest:
    """The visit's figures to compare against the household's facts (consent given)."""

    case_id: str
    household_key: str
    step: str
    at: datetime
    household_size: int
    monthly_income_total: Decimal
    assets: VisitAssets


@dataclass(frozen=True)
class EconomicCheck:
    """The verified figures and what did not match.

    Income is the larger of the visit's figure and the agencies' (income plus pension), assets
    the larger count of each kind; the household's existing benefits come from the facts.
    """

    monthly_income_total: Decimal
    assets: VisitAssets
    existing_benefits: tuple[str, ...]
    discrepancies: tuple[str, ...]


@dataclass(frozen=True)
class AssessRequest:
    case_id: str
    household_key: str
    step: str
    decision_id: str
    at: datetime
    on: date
    circumstances: HouseholdCircumstances


@dataclass(frozen=True)
class AwardLine:
    """One programme awarded: ``monthly_amount`` or (temporary assistance) ``one_off_amount``."""

    programme: str
    effective_from: date
    monthly_amount: Decimal | None = None
    one_off_amount: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"programme": self.programme}
        if self.monthly_amount is not None:
            out["monthly_amount"] = str(self.monthly_amount)
        if self.one_off_amount is not None:
            out["one_off_amount"] = str(self.one_off_amount)
        out["effective_from"] = self.effective_from.isoformat()
        return out


@dataclass(frozen=True)
class Assessment:
    """The policy engine's decision as the case keeps it.

    ``awards`` are the new awards (programmes the household does not receive already);
    ``trace`` is the JSON-safe decision trace (every rule, numbers, parameter values and their
    effective dates); ``summary`` says in one line why, for a negative decision's close reason.
    """

    decision_id: str
    decided_on: date
    decided_at: datetime
    awards: tuple[AwardLine, ...]
    trace: list[Any]
    summary: str
    circumstances: dict[str, Any] = field(default_factory=dict)

    @property
    def eligible(self) -> bool:
        return bool(self.awards)


@dataclass(frozen=True)
class Enrolment:
    """Finalize an enrolment: the domain event, the outbound ``outreach.enrollment.finalized``
    message (outbox) and the row the annual review follows, in one transaction."""

    case_id: str
    household_key: str
    district: str
    urban: bool
    step: str
    at: datetime
    assessment: Assessment
    trigger_event_ids: tuple[str, ...]


@dataclass(frozen=True)
class CaseClosing:
    """Close the case: ``CaseClosed`` (plus ``extra`` events, e.g. a cancelled visit task) and
    the outbound ``outreach.case.closed`` message, in one transaction."""

    case_id: str
    household_key: str
    step: str
    at: datetime
    outcome: str
    reason: str
    trigger_event_ids: tuple[str, ...]
    extra: tuple[DomainEvent, ...] = ()

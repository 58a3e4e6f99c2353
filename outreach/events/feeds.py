"""Inbound agency feed events (CONTRACT.md, "Inbound: agency feeds on Kafka").

One model per event type, each a :class:`CloudEvent` with a literal ``type`` and a typed
``data``. Every model keeps unknown fields (``extra="allow"``) and re-serialises them.

What an event does to a case is a property of its type (:class:`CaseEffect`):

- ``disability.certificate.issued``, ``medical.settlement.recorded`` and
  ``monitoring.household.listed`` may open the household's case (or join the open one); whether
  the event really is a trigger (e.g. out-of-pocket of 10,000 or more) is decided by policy in
  screening, not here.
- ``disability.certificate.expiring`` is a renewal reminder: it never opens a case by itself;
  it is stored, and forwarded to the household's case only if one is open.
- ``facts.household.reported`` is data comparison: stored and projected, never sent to a case.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from outreach.events.envelope import CloudEvent
from outreach.events.fields import (
    Day,
    Flag,
    Identifier,
    InboundAmount,
    Name,
    OptionalText,
    Place,
    Text,
)
from outreach.events.identity import IdNumber
from outreach.events.limits import MAX_COUNT, MAX_NAME, MAX_PLACE, MAX_TEXT

# One vocabulary with the policy engine (same values as CONTRACT.md).
from outreach.policy.circumstances import DisabilityCategory, LaborCapacity

__all__ = [
    "CaseEffect",
    "Certificate",
    "CertificateExpiringData",
    "CertificateIssuedData",
    "CertificateReminder",
    "DisabilityCategory",
    "DisabilityCertificateExpiring",
    "DisabilityCertificateIssued",
    "Fact",
    "FactKind",
    "FactReportedData",
    "FactsHouseholdReported",
    "FeedData",
    "Household",
    "HouseholdListedData",
    "InboundEvent",
    "LaborCapacity",
    "MedicalSettlementRecorded",
    "Member",
    "MonitoringHouseholdListed",
    "Person",
    "Risk",
    "Settlement",
    "SettlementRecordedData",
]


class _Open(BaseModel):
    """Base for inbound shapes: unknown fields kept, instances immutable."""

    model_config = ConfigDict(extra="allow", frozen=True)


# ---------------------------------------------------------------------------------- vocabulary


class Risk(StrEnum):
    ILLNESS = "illness"
    DISABILITY = "disability"
    DISASTER = "disaster"
    ACCIDENT = "accident"
    UNEMPLOYMENT = "unemployment"
    OTHER = "other"


class FactKind(StrEnum):
    INCOME = "income"
    REAL_ESTATE = "real_estate"
    VEHICLE = "vehicle"
    BUSINESS = "business"
    PENSION = "pension"
    BENEFIT = "benefit"


class CaseEffect(Enum):
    """What ingest does with an event of a type once it is stored."""

    OPENS = "opens"
    """Start the household's case, or join it when one is open."""
    JOINS_OPEN = "joins_open"
    """Join the household's open case; never start one."""
    NONE = "none"
    """Store and project only; never sent to a case."""


# ------------------------------------------------------------------------------ shared shapes


class Person(_Open):
    id_number: IdNumber
    name: Name
    phone: str | None = Field(default=None, max_length=MAX_NAME)
    address: str | None = Field(default=None, max_length=MAX_TEXT)


class Household(_Open):
    household_id: Identifier
    district: Place
    """Free text, normalised to stripped lower case (yongding, wulingyuan, cili, sangzhi, ...)."""
    township: str | None = Field(default=None, max_length=MAX_PLACE)
    urban: Flag


class FeedData(_Open):
    """What every inbound ``data`` has: the household the event is about."""

    household: Household


# ------------------------------------------------------------------- disability.certificate.*


class Certificate(_Open):
    number: Identifier
    category: DisabilityCategory
    grade: int = Field(ge=1, le=4)
    issued_on: Day
    valid_until: Day

    @model_validator(mode="after")
    def _valid_after_issue(self) -> Certificate:
        if self.valid_until < self.issued_on:
            raise PydanticCustomError(
                "date_order",
                "valid_until ({valid_until}) is before issued_on ({issued_on})",
                {"valid_until": str(self.valid_until), "issued_on": str(self.issued_on)},
            )
        return self


class CertificateReminder(_Open):
    number: Identifier
    valid_until: Day


class CertificateIssuedData(FeedData):
    person: Person
    certificate: Certificate


class CertificateExpiringData(FeedData):
    person: Person
    certificate: CertificateReminder


# ------------------------------------------------------------------ medical.settlement.recorded


class Settlement(_Open):
    settlement_id: Identifier
    hospital: Text
    admitted_on: Day
    discharged_on: Day
    diagnosis: Text
    serious_illness: Flag
    total_cost: InboundAmount
    fund_paid: InboundAmount
    out_of_pocket: InboundAmount

    @model_validator(mode="after")
    def _consistent(self) -> Settlement:
        if self.discharged_on < self.admitted_on:
            raise PydanticCustomError(
                "date_order",
                "discharged_on ({discharged_on}) is before admitted_on ({admitted_on})",
                {"discharged_on": str(self.discharged_on), "admitted_on": str(self.admitted_on)},
            )
        for name in ("out_of_pocket", "fund_paid"):
            part = getattr(self, name)
            if part > self.total_cost:
                raise PydanticCustomError(
                    "amount_exceeds_total",
                    "{name} ({part}) exceeds total_cost ({total})",
                    {"name": name, "part": str(part), "total": str(self.total_cost)},
                )
        return self


class SettlementRecordedData(FeedData):
    person: Person
    settlement: Settlement


# ------------------------------------------------------------------ monitoring.household.listed


class Member(_Open):
    id_number: IdNumber
    name: Name
    relation: Name
    labor_capacity: LaborCapacity
    age: int = Field(ge=0, le=150)


class HouseholdListedData(FeedData):
    members: list[Member] = Field(min_length=1, max_length=100)
    per_capita_annual_income: InboundAmount
    risk: Risk

    @model_validator(mode="after")
    def _members_distinct(self) -> HouseholdListedData:
        seen: set[str] = set()
        for index, member in enumerate(self.members):
            if member.id_number in seen:
                raise PydanticCustomError(
                    "duplicate_member",
                    "members[{index}] repeats the ID number of an earlier member",
                    {"index": index},
                )
            seen.add(member.id_number)
        return self


# -------------------------------------------------------------------- facts.household.reported


class Fact(_Open):
    kind: FactKind
    amount: InboundAmount | None = None
    count: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    period: OptionalText | None = None
    """Free text as the agency sends it, e.g. "2023", "2023-12", "monthly"."""
    detail: JsonValue = None
    """Free text or a JSON object, as the agency sends it."""


class FactReportedData(FeedData):
    person: Person | None = None
    fact: Fact


# ---------------------------------------------------------------------------------- the events


class InboundEvent(CloudEvent):
    """An agency feed event with validated ``data``; the base of every inbound type."""

    data: FeedData
    case_effect: ClassVar[CaseEffect]

    @property
    def household(self) -> Household:
        return self.data.household

    @property
    def household_id(self) -> str:
        return self.data.household.household_id

    @property
    def district(self) -> str:
        return self.data.household.district

    @property
    def opens_case(self) -> bool:
        """True when this event may start the household's case by itself."""
        return self.case_effect is CaseEffect.OPENS

    @property
    def id_numbers(self) -> tuple[str, ...]:
        """Every resident ID number the event mentions (person first, then members)."""
        return ()


class DisabilityCertificateIssued(InboundEvent):
    """The disability federation issued a certificate (category, grade 1-4)."""

    type: Literal["disability.certificate.issued"]
    data: CertificateIssuedData
    case_effect: ClassVar[CaseEffect] = CaseEffect.OPENS

    @property
    def id_numbers(self) -> tuple[str, ...]:
        return (self.data.person.id_number,)


class DisabilityCertificateExpiring(InboundEvent):
    """Renewal reminder for a certificate; joins an open case, never opens one."""

    type: Literal["disability.certificate.expiring"]
    data: CertificateExpiringData
    case_effect: ClassVar[CaseEffect] = CaseEffect.JOINS_OPEN

    @property
    def id_numbers(self) -> tuple[str, ...]:
        return (self.data.person.id_number,)


class MedicalSettlementRecorded(InboundEvent):
    """Medical insurance settled a hospital stay (yuan, Decimal)."""

    type: Literal["medical.settlement.recorded"]
    data: SettlementRecordedData
    case_effect: ClassVar[CaseEffect] = CaseEffect.OPENS

    @property
    def id_numbers(self) -> tuple[str, ...]:
        return (self.data.person.id_number,)


class MonitoringHouseholdListed(InboundEvent):
    """Rural revitalization listed the household for poverty-return monitoring."""

    type: Literal["monitoring.household.listed"]
    data: HouseholdListedData
    case_effect: ClassVar[CaseEffect] = CaseEffect.OPENS

    @property
    def id_numbers(self) -> tuple[str, ...]:
        return tuple(member.id_number for member in self.data.members)


class FactsHouseholdReported(InboundEvent):
    """A fact about the household for data comparison; never opens a case."""

    type: Literal["facts.household.reported"]
    data: FactReportedData
    case_effect: ClassVar[CaseEffect] = CaseEffect.NONE

    @property
    def id_numbers(self) -> tuple[str, ...]:
        person = self.data.person
        return (person.id_number,) if person is not None else ()

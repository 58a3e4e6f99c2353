"""What the rules know about a household: plain frozen dataclasses a workflow can carry.

The caller (screening/verification) assembles these from the facts projection and the visit;
the rules never look anything up themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from outreach.policy.programmes import Programme

__all__ = [
    "Assets",
    "DisabilityCategory",
    "DisabilityCertificate",
    "HouseholdCircumstances",
    "LaborCapacity",
    "normalise_district",
]


def normalise_district(district: str) -> str:
    """District key as used in parameter tables: lower-case pinyin, e.g. ``yongding``."""
    return district.strip().lower()


class LaborCapacity(StrEnum):
    """Labour capacity of one household member."""

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class DisabilityCategory(StrEnum):
    """Categories on the disability certificate (残疾人证)."""

    PHYSICAL = "physical"
    VISUAL = "visual"
    HEARING = "hearing"
    SPEECH = "speech"
    INTELLECTUAL = "intellectual"
    MENTAL = "mental"
    MULTIPLE = "multiple"


@dataclass(frozen=True)
class DisabilityCertificate:
    """A certified disability of one household member; grade 1 is the most severe, 4 the least.

    One certificate per person (a person with several disabilities holds one certificate,
    category ``multiple``). ``holder`` is an optional pseudonymous label for the trace.
    """

    category: DisabilityCategory
    grade: int
    holder: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.grade <= 4:
            raise ValueError(f"disability grade must be 1-4, got {self.grade}")

    @property
    def label(self) -> str:
        base = f"{self.category.value} grade {self.grade}"
        return f"{self.holder}: {base}" if self.holder else base


@dataclass(frozen=True)
class Assets:
    """Household property relevant to the assets test.

    ``vehicles``: motor vehicles (the caller leaves out those exempt by policy, e.g. a
    motorised wheelchair). ``homes``: residential properties. ``business_premises``: shops,
    offices or other commercial property. ``financial_assets``: savings, deposits, securities.
    """

    vehicles: int = 0
    homes: int = 0
    business_premises: int = 0
    financial_assets: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if min(self.vehicles, self.homes, self.business_premises) < 0:
            raise ValueError("asset counts must not be negative")
        if self.financial_assets < 0:
            raise ValueError("financial_assets must not be negative")


@dataclass(frozen=True)
class HouseholdCircumstances:
    """A household as verified on the decision date.

    - ``district``: lower-case pinyin (``yongding``, ``wulingyuan`` ...); selects district
      overrides of parameters. Other spellings are normalised with :func:`normalise_district`.
    - ``urban``: urban (monthly standard) or rural (annual standard / 12) dibao.
    - ``monthly_income_total``: the whole household's monthly income, yuan.
    - ``labor_capacities``: one entry per member, or empty when not assessed. An empty tuple
      never establishes "no labour capacity" (tekun needs it recorded for every member).
    - ``has_supporter``: someone legally obliged and able to support the household (法定赡养、
      抚养、扶养义务人). Defaults to True: tekun needs the absence of a supporter verified.
    - ``medical_out_of_pocket``: out-of-pocket amounts of the hospital bills the caller wants
      considered (e.g. those since the last temporary assistance); the rule uses their sum.
    - ``existing_benefits``: programmes the household already receives.
    """

    district: str
    urban: bool
    household_size: int
    monthly_income_total: Decimal = Decimal(0)
    labor_capacities: tuple[LaborCapacity, ...] = ()
    has_supporter: bool = True
    assets: Assets = Assets()
    disability_certificates: tuple[DisabilityCertificate, ...] = ()
    medical_out_of_pocket: tuple[Decimal, ...] = ()
    existing_benefits: tuple[Programme, ...] = ()

    def __post_init__(self) -> None:
        if self.household_size < 1:
            raise ValueError(f"household_size must be at least 1, got {self.household_size}")
        if self.monthly_income_total < 0:
            raise ValueError("monthly_income_total must not be negative")
        if self.labor_capacities and len(self.labor_capacities) != self.household_size:
            raise ValueError(
                f"labor_capacities has {len(self.labor_capacities)} entries for a household"
                f" of {self.household_size}; give one per member or none"
            )
        if any(amount < 0 for amount in self.medical_out_of_pocket):
            raise ValueError("medical_out_of_pocket amounts must not be negative")
        if len(self.disability_certificates) > self.household_size:
            raise ValueError("more disability certificates than household members")
        # Accept plain strings for existing benefits but reject unknown programme names.
        for name in self.existing_benefits:
            Programme(name)

    @property
    def district_key(self) -> str:
        return normalise_district(self.district)

    @property
    def medical_out_of_pocket_total(self) -> Decimal:
        return sum(self.medical_out_of_pocket, Decimal(0))

    def receives(self, programme: Programme) -> bool:
        return programme in self.existing_benefits

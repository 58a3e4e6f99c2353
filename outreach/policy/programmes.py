"""The assistance programmes, what a household is awarded, and one programme's assessment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from outreach.policy.trace import JSONValue, RuleCheck

__all__ = ["Programme", "ProgrammeAssessment", "ProgrammeAward", "programme_named"]


class Programme(StrEnum):
    """Programme names exactly as published on ``outreach.enrollments`` (CONTRACT.md)."""

    DIBAO = "dibao"
    """最低生活保障, minimum living guarantee: a monthly differential amount."""
    TEKUN = "tekun"
    """特困人员救助供养, support for people in extreme poverty: a monthly amount."""
    TEMPORARY_ASSISTANCE = "temporary_assistance"
    """临时救助, temporary assistance: a one-off amount."""
    DISABILITY_LIVING_SUBSIDY = "disability_living_subsidy"
    """困难残疾人生活补贴: a monthly amount per certified disabled person."""
    DISABILITY_NURSING_SUBSIDY = "disability_nursing_subsidy"
    """重度残疾人护理补贴: a monthly amount per severely disabled person."""


def programme_named(value: object) -> Programme | None:
    """The programme ``value`` names: a programme name (any case, spaces around), or an object
    with such a ``programme`` member; None for anything else."""
    if isinstance(value, dict):
        value = value.get("programme")
    if not isinstance(value, str):
        return None
    try:
        return Programme(value.strip().lower())
    except ValueError:
        return None


@dataclass(frozen=True)
class ProgrammeAward:
    """What a household is entitled to under one programme.

    Exactly one of ``monthly_amount`` (recurring programmes) and ``one_off_amount`` (temporary
    assistance) is set; amounts are yuan rounded to 0.01. ``effective_from`` is the decision date.
    """

    programme: Programme
    effective_from: date
    monthly_amount: Decimal | None = None
    one_off_amount: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.monthly_amount is None) == (self.one_off_amount is None):
            raise ValueError("an award has exactly one of monthly_amount and one_off_amount")

    @property
    def amount(self) -> Decimal:
        """The monthly or the one-off amount, whichever this award has."""
        if self.monthly_amount is not None:
            return self.monthly_amount
        assert self.one_off_amount is not None
        return self.one_off_amount

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-safe form, shaped like an entry of ``programmes`` in ``outreach.enrollments``."""
        out: dict[str, JSONValue] = {"programme": self.programme.value}
        if self.monthly_amount is not None:
            out["monthly_amount"] = str(self.monthly_amount)
        if self.one_off_amount is not None:
            out["one_off_amount"] = str(self.one_off_amount)
        out["effective_from"] = self.effective_from.isoformat()
        return out


@dataclass(frozen=True)
class ProgrammeAssessment:
    """One programme's rules as evaluated for a household; ``award`` is set iff eligible."""

    programme: Programme
    checks: tuple[RuleCheck, ...]
    award: ProgrammeAward | None = None

    @property
    def eligible(self) -> bool:
        return self.award is not None

    @property
    def failed(self) -> tuple[RuleCheck, ...]:
        """The checks that did not pass (empty when eligible)."""
        return tuple(check for check in self.checks if not check.passed)

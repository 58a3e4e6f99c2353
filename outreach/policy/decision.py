"""The decision: every programme assessed for a household on a date, with the full trace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from outreach.policy.circumstances import HouseholdCircumstances
from outreach.policy.money import fixed_context
from outreach.policy.parameters import PolicyParameters
from outreach.policy.programmes import Programme, ProgrammeAssessment, ProgrammeAward
from outreach.policy.rules import (
    assess_dibao,
    assess_disability_living_subsidy,
    assess_disability_nursing_subsidy,
    assess_tekun,
    assess_temporary_assistance,
)
from outreach.policy.trace import JSONValue, RuleCheck

__all__ = ["Decision", "assess_all", "decide"]


@dataclass(frozen=True)
class Decision:
    """What a household is entitled to on ``decided_on``, and why.

    ``awards`` lists every programme the household qualifies for, with its amount, including
    programmes it already receives (so an annual review can compare); :attr:`new_awards` leaves
    those out. ``trace`` holds every rule checked for every programme, in evaluation order
    (tekun, dibao, temporary_assistance, disability_living_subsidy, disability_nursing_subsidy).
    """

    decided_on: date
    district: str
    awards: tuple[ProgrammeAward, ...]
    trace: tuple[RuleCheck, ...]
    already_receiving: tuple[Programme, ...] = ()

    @property
    def eligible(self) -> bool:
        """True if the household qualifies for at least one programme."""
        return bool(self.awards)

    @property
    def programmes(self) -> tuple[Programme, ...]:
        return tuple(award.programme for award in self.awards)

    @property
    def new_awards(self) -> tuple[ProgrammeAward, ...]:
        """Awards for programmes the household does not already receive (temporary assistance,
        a one-off, is always new)."""
        return tuple(
            award
            for award in self.awards
            if award.programme == Programme.TEMPORARY_ASSISTANCE
            or award.programme not in self.already_receiving
        )

    def award(self, programme: Programme | str) -> ProgrammeAward | None:
        """The award for ``programme``, or None."""
        for award in self.awards:
            if award.programme == programme:
                return award
        return None

    def checks(self, programme: Programme | str) -> tuple[RuleCheck, ...]:
        """The trace entries of one programme."""
        return tuple(check for check in self.trace if check.programme == programme)

    def check(self, rule: str) -> RuleCheck:
        """The trace entry of ``rule`` (e.g. ``"dibao.income_below_standard"``)."""
        for check in self.trace:
            if check.rule == rule:
                return check
        raise KeyError(f"no rule {rule!r} in this decision's trace")

    def trace_to_dicts(self) -> list[JSONValue]:
        """The trace, JSON-safe (the ``decision_trace`` of ``outreach.enrollment.finalized``)."""
        return [check.to_dict() for check in self.trace]

    def to_dict(self) -> dict[str, JSONValue]:
        """The whole decision, JSON-safe."""
        return {
            "decided_on": self.decided_on.isoformat(),
            "district": self.district,
            "eligible": self.eligible,
            "programmes": [award.to_dict() for award in self.awards],
            "already_receiving": [programme.value for programme in self.already_receiving],
            "trace": self.trace_to_dicts(),
        }


@fixed_context
def assess_all(
    c: HouseholdCircumstances, on: date, params: PolicyParameters
) -> tuple[ProgrammeAssessment, ...]:
    """Every programme's assessment, in evaluation order."""
    tekun = assess_tekun(c, on, params)
    dibao = assess_dibao(c, on, params, tekun=tekun)
    return (
        tekun,
        dibao,
        assess_temporary_assistance(c, on, params),
        assess_disability_living_subsidy(c, on, params, dibao=dibao),
        assess_disability_nursing_subsidy(c, on, params),
    )


def decide(c: HouseholdCircumstances, on: date, params: PolicyParameters) -> Decision:
    """Assess every programme for the household on ``on`` with ``params``.

    Pure and deterministic: the same circumstances, date and parameters always give an equal
    decision. Raises :class:`~outreach.policy.parameters.ParameterNotInForceError` for a date
    before the parameters' first effective date.
    """
    assessments = assess_all(c, on, params)
    return Decision(
        decided_on=on,
        district=c.district_key,
        awards=tuple(a.award for a in assessments if a.award is not None),
        trace=tuple(check for a in assessments for check in a.checks),
        already_receiving=tuple(Programme(p) for p in c.existing_benefits),
    )

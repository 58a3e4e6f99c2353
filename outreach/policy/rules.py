"""Eligibility rules, one pure function per programme.

Each ``assess_*`` function takes the household's circumstances, the decision date and the
parameters, and returns a :class:`~outreach.policy.programmes.ProgrammeAssessment`: every rule
checked (all of them are evaluated, so the trace is complete even when an early one fails) and the
award if all passed. No I/O, no clock, no randomness: safe to call from a Temporal workflow.

Conventions:

- The local dibao standard is the urban (monthly) or rural (annual, divided by 12) standard for
  the household's district on the decision date. Comparisons are exact (income x months against
  standard x household size), so a per-capita income equal to the standard is not below it.
- Derived numbers in a check's ``inputs`` (per-capita income, monthly standard, limits) are
  rounded to 0.01 for reading; the computation uses the exact values. Awards are rounded to
  0.01 half-up once, at the end.
- An award is effective from the decision date.

Programme rules:

- **tekun** (特困): every member recorded without labour capacity, no income, no supporter, and
  the assets test. Amount: tekun_standard_ratio x local monthly standard x household size.
- **dibao** (低保): per-capita monthly income below the local standard, the assets test, and not
  tekun (tekun and dibao are exclusive: a household eligible for or receiving tekun gets tekun,
  not dibao). Amount: (standard - per-capita income) x household size.
- **temporary_assistance** (临时救助): medical out-of-pocket total at least the trigger, per-capita
  income below the low-income threshold, the assets test. One-off amount:
  min(rate x out-of-pocket total, cap_months x local monthly standard).
- **disability_living_subsidy**: at least one certified disability, and the household receives
  dibao, is awarded dibao in this decision, or is low-income (income below the low-income
  threshold and the assets test). Amount: subsidy x certificate holders.
- **disability_nursing_subsidy**: at least one severe disability (grade 1 or 2, or grade 3
  intellectual or mental). No means test. Amount: subsidy x severely disabled members.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from outreach.policy.circumstances import (
    DisabilityCategory,
    DisabilityCertificate,
    HouseholdCircumstances,
    LaborCapacity,
)
from outreach.policy.money import display, fixed_context, round_money
from outreach.policy.parameters import PolicyParameters
from outreach.policy.programmes import Programme, ProgrammeAssessment, ProgrammeAward
from outreach.policy.trace import InputValue, ParameterUsed, RuleCheck

__all__ = [
    "assess_dibao",
    "assess_disability_living_subsidy",
    "assess_disability_nursing_subsidy",
    "assess_tekun",
    "assess_temporary_assistance",
    "is_severe_disability",
]

_SEVERE_GRADE_3 = frozenset({DisabilityCategory.INTELLECTUAL, DisabilityCategory.MENTAL})


def is_severe_disability(certificate: DisabilityCertificate) -> bool:
    """Severe (重度) disability: grade 1-2, or grade 3 intellectual or mental."""
    return certificate.grade <= 2 or (
        certificate.grade == 3 and certificate.category in _SEVERE_GRADE_3
    )


@dataclass(frozen=True)
class _Standard:
    """The household's local dibao standard: ``used.value`` covers ``months`` months per person."""

    used: ParameterUsed
    months: int

    @property
    def monthly(self) -> Decimal:
        return self.used.value / self.months

    def describe(self) -> str:
        kind = "urban" if self.months == 1 else "rural"
        where = "" if self.used.applies_to == "default" else f" for {self.used.applies_to}"
        text = f"{kind} dibao standard {self.used.value} {self.used.unit}"
        if self.months != 1:
            text += f" ({display(self.monthly)}/month)"
        return f"{text}, effective {self.used.effective_from.isoformat()}{where}"


def _local_standard(c: HouseholdCircumstances, on: date, params: PolicyParameters) -> _Standard:
    if c.urban:
        return _Standard(params.used("urban_dibao_standard", on, c.district), 1)
    return _Standard(params.used("rural_dibao_standard", on, c.district), 12)


def _per_capita(c: HouseholdCircumstances) -> Decimal:
    return c.monthly_income_total / c.household_size


def _check(
    programme: Programme,
    rule: str,
    passed: bool,
    explanation: str,
    inputs: dict[str, InputValue],
    *parameters: ParameterUsed,
) -> RuleCheck:
    return RuleCheck(
        rule=f"{programme.value}.{rule}",
        programme=programme.value,
        passed=passed,
        explanation=explanation,
        inputs=inputs,
        parameters=tuple(parameters),
    )


def _income_inputs(c: HouseholdCircumstances) -> dict[str, InputValue]:
    return {
        "monthly_income_total": c.monthly_income_total,
        "household_size": c.household_size,
        "per_capita_monthly_income": round_money(_per_capita(c)),
    }


def _assets_check(
    programme: Programme,
    c: HouseholdCircumstances,
    on: date,
    params: PolicyParameters,
    standard: _Standard,
) -> RuleCheck:
    max_vehicles = params.used("asset_max_vehicles", on, c.district)
    max_homes = params.used("asset_max_homes", on, c.district)
    max_business = params.used("asset_max_business_premises", on, c.district)
    max_months = params.used("asset_max_financial_months", on, c.district)
    a = c.assets
    # Per-capita financial assets <= max_months x monthly standard, compared exactly.
    financial_ok = (
        a.financial_assets * standard.months
        <= max_months.value * standard.used.value * c.household_size
    )
    financial_limit = max_months.value * standard.monthly * c.household_size
    problems = []
    if a.vehicles > max_vehicles.value:
        problems.append(f"{a.vehicles} vehicle(s), at most {max_vehicles.value} allowed")
    if a.homes > max_homes.value:
        problems.append(f"{a.homes} home(s), at most {max_homes.value} allowed")
    if a.business_premises > max_business.value:
        problems.append(
            f"{a.business_premises} business premises, at most {max_business.value} allowed"
        )
    if not financial_ok:
        problems.append(
            f"financial assets {display(a.financial_assets)} above {display(financial_limit)}"
            f" ({max_months.value} months of the standard x {c.household_size} persons)"
        )
    explanation = (
        "assets within limits" if not problems else "assets too large: " + "; ".join(problems)
    )
    return _check(
        programme,
        "assets",
        not problems,
        explanation,
        {
            "vehicles": a.vehicles,
            "homes": a.homes,
            "business_premises": a.business_premises,
            "financial_assets": a.financial_assets,
            "household_size": c.household_size,
            "financial_assets_limit": round_money(financial_limit),
        },
        max_vehicles,
        max_homes,
        max_business,
        max_months,
        standard.used,
    )


def _low_income(
    c: HouseholdCircumstances, on: date, params: PolicyParameters, standard: _Standard
) -> tuple[bool, ParameterUsed, Decimal]:
    """Whether per-capita income is below low_income_ratio x the standard (exact), and the
    per-capita threshold (for display)."""
    ratio = params.used("low_income_ratio", on, c.district)
    below = (
        c.monthly_income_total * standard.months
        < ratio.value * standard.used.value * c.household_size
    )
    return below, ratio, ratio.value * standard.monthly


def _low_income_check(
    programme: Programme,
    c: HouseholdCircumstances,
    on: date,
    params: PolicyParameters,
    standard: _Standard,
) -> RuleCheck:
    below, ratio, threshold = _low_income(c, on, params, standard)
    per_capita = display(_per_capita(c))
    relation = "below" if below else "not below"
    return _check(
        programme,
        "low_income",
        below,
        f"per-capita monthly income {per_capita} is {relation} the low-income threshold"
        f" {display(threshold)} ({ratio.value} x {standard.describe()})",
        {**_income_inputs(c), "low_income_threshold": round_money(threshold)},
        ratio,
        standard.used,
    )


@fixed_context
def assess_tekun(
    c: HouseholdCircumstances, on: date, params: PolicyParameters
) -> ProgrammeAssessment:
    """Tekun (特困): no labour capacity, no income, no supporter, assets test."""
    programme = Programme.TEKUN
    standard = _local_standard(c, on, params)
    capacities = tuple(capacity.value for capacity in c.labor_capacities)
    no_capacity = bool(c.labor_capacities) and all(
        capacity == LaborCapacity.NONE for capacity in c.labor_capacities
    )
    if not c.labor_capacities:
        capacity_text = "labour capacity not recorded for the members"
    elif no_capacity:
        capacity_text = "no member has labour capacity"
    else:
        able = sum(1 for capacity in c.labor_capacities if capacity != LaborCapacity.NONE)
        capacity_text = f"{able} member(s) with full or partial labour capacity"
    checks = [
        _check(
            programme,
            "no_labor_capacity",
            no_capacity,
            capacity_text,
            {"labor_capacities": capacities, "household_size": c.household_size},
        ),
        _check(
            programme,
            "no_income",
            c.monthly_income_total == 0,
            "no income"
            if c.monthly_income_total == 0
            else f"monthly income {display(c.monthly_income_total)}",
            {"monthly_income_total": c.monthly_income_total},
        ),
        _check(
            programme,
            "no_supporter",
            not c.has_supporter,
            "no one obliged and able to support the household"
            if not c.has_supporter
            else "has a supporter obliged and able to support",
            {"has_supporter": c.has_supporter},
        ),
        _assets_check(programme, c, on, params, standard),
    ]
    award = None
    if all(check.passed for check in checks):
        ratio = params.used("tekun_standard_ratio", on, c.district)
        exact = ratio.value * standard.used.value * c.household_size / standard.months
        amount = round_money(exact)
        checks.append(
            _check(
                programme,
                "amount",
                True,
                f"{ratio.value} x {display(standard.monthly)} x {c.household_size}"
                f" = {amount} per month ({standard.describe()})",
                {"household_size": c.household_size, "monthly_amount": amount},
                ratio,
                standard.used,
            )
        )
        award = ProgrammeAward(programme, effective_from=on, monthly_amount=amount)
    return ProgrammeAssessment(programme, tuple(checks), award)


@fixed_context
def assess_dibao(
    c: HouseholdCircumstances,
    on: date,
    params: PolicyParameters,
    *,
    tekun: ProgrammeAssessment | None = None,
) -> ProgrammeAssessment:
    """Dibao (低保): (standard - per-capita income) x household size when income is below the
    standard, assets test, not tekun. ``tekun`` is the household's tekun assessment if the caller
    already has it (computed here otherwise)."""
    programme = Programme.DIBAO
    standard = _local_standard(c, on, params)
    below = c.monthly_income_total * standard.months < standard.used.value * c.household_size
    per_capita = display(_per_capita(c))
    if tekun is None:
        tekun = assess_tekun(c, on, params)
    receives_tekun = c.receives(Programme.TEKUN)
    not_tekun = not (tekun.eligible or receives_tekun)
    if tekun.eligible:
        tekun_text = "eligible for tekun, which replaces dibao (see tekun rules)"
    elif receives_tekun:
        tekun_text = "already receives tekun, which replaces dibao"
    else:
        tekun_text = "not tekun"
    checks = [
        _check(
            programme,
            "income_below_standard",
            below,
            f"per-capita monthly income {per_capita} is {'below' if below else 'not below'}"
            f" the {standard.describe()}",
            {**_income_inputs(c), "monthly_standard": round_money(standard.monthly)},
            standard.used,
        ),
        _assets_check(programme, c, on, params, standard),
        _check(
            programme,
            "not_tekun",
            not_tekun,
            tekun_text,
            {"tekun_eligible": tekun.eligible, "receives_tekun": receives_tekun},
        ),
    ]
    award = None
    if all(check.passed for check in checks):
        exact = (
            standard.used.value * c.household_size - c.monthly_income_total * standard.months
        ) / standard.months
        amount = round_money(exact)
        checks.append(
            _check(
                programme,
                "amount",
                True,
                f"({display(standard.monthly)} - {per_capita}) x {c.household_size}"
                f" = {amount} per month",
                {**_income_inputs(c), "monthly_amount": amount},
                standard.used,
            )
        )
        award = ProgrammeAward(programme, effective_from=on, monthly_amount=amount)
    return ProgrammeAssessment(programme, tuple(checks), award)


@fixed_context
def assess_temporary_assistance(
    c: HouseholdCircumstances, on: date, params: PolicyParameters
) -> ProgrammeAssessment:
    """Temporary assistance (临时救助) after a medical out-of-pocket total of at least the trigger:
    a one-off share of the bill, capped at some months of the local standard."""
    programme = Programme.TEMPORARY_ASSISTANCE
    standard = _local_standard(c, on, params)
    trigger = params.used("medical_out_of_pocket_trigger", on, c.district)
    total = c.medical_out_of_pocket_total
    reached = total >= trigger.value
    checks = [
        _check(
            programme,
            "medical_out_of_pocket",
            reached,
            f"medical out-of-pocket total {display(total)}"
            f" {'reaches' if reached else 'is below'} the trigger {display(trigger.value)}",
            {"medical_bills": len(c.medical_out_of_pocket), "medical_out_of_pocket_total": total},
            trigger,
        ),
        _low_income_check(programme, c, on, params, standard),
        _assets_check(programme, c, on, params, standard),
    ]
    award = None
    if all(check.passed for check in checks):
        rate = params.used("temporary_assistance_rate", on, c.district)
        cap_months = params.used("temporary_assistance_cap_months", on, c.district)
        share = rate.value * total
        cap = cap_months.value * standard.used.value / standard.months
        amount = round_money(min(share, cap))
        capped = share > cap
        checks.append(
            _check(
                programme,
                "amount",
                True,
                f"{rate.value} x {display(total)} = {display(share)}"
                + (
                    f", capped at {cap_months.value} x {display(standard.monthly)} = {display(cap)}"
                    if capped
                    else f" (cap {display(cap)})"
                )
                + f": one-off {amount}",
                {
                    "medical_out_of_pocket_total": total,
                    "share": round_money(share),
                    "cap": round_money(cap),
                    "capped": capped,
                    "one_off_amount": amount,
                },
                rate,
                cap_months,
                standard.used,
            )
        )
        award = ProgrammeAward(programme, effective_from=on, one_off_amount=amount)
    return ProgrammeAssessment(programme, tuple(checks), award)


@fixed_context
def assess_disability_living_subsidy(
    c: HouseholdCircumstances,
    on: date,
    params: PolicyParameters,
    *,
    dibao: ProgrammeAssessment | None = None,
) -> ProgrammeAssessment:
    """Disability living subsidy: a certified disability in a dibao or low-income household.
    ``dibao`` is the household's dibao assessment in this decision if the caller has it."""
    programme = Programme.DISABILITY_LIVING_SUBSIDY
    standard = _local_standard(c, on, params)
    certificates = c.disability_certificates
    if dibao is None:
        dibao = assess_dibao(c, on, params)
    receives_dibao = c.receives(Programme.DIBAO)
    low_income, ratio, threshold = _low_income(c, on, params, standard)
    assets = _assets_check(programme, c, on, params, standard)
    low_income_household = low_income and assets.passed
    qualifies = receives_dibao or dibao.eligible or low_income_household
    if receives_dibao:
        means_text = "household receives dibao"
    elif dibao.eligible:
        means_text = "household is awarded dibao in this decision"
    elif low_income_household:
        means_text = (
            f"low-income household: per-capita monthly income {display(_per_capita(c))}"
            f" below {display(threshold)} ({ratio.value} x {standard.describe()}), assets within"
            " limits"
        )
    else:
        reasons = []
        if not low_income:
            reasons.append(
                f"per-capita monthly income {display(_per_capita(c))} not below"
                f" {display(threshold)} ({ratio.value} x {standard.describe()})"
            )
        if not assets.passed:
            reasons.append(assets.explanation)
        means_text = "neither dibao nor low-income: " + "; ".join(reasons)
    checks = [
        _check(
            programme,
            "certified_disability",
            bool(certificates),
            f"{len(certificates)} certified disability(ies)"
            if certificates
            else "no certified disability",
            {"certificates": tuple(cert.label for cert in certificates)},
        ),
        _check(
            programme,
            "dibao_or_low_income",
            qualifies,
            means_text,
            {
                "receives_dibao": receives_dibao,
                "dibao_awarded": dibao.eligible,
                **_income_inputs(c),
                "low_income_threshold": round_money(threshold),
                "income_below_low_income_threshold": low_income,
                "assets_within_limits": assets.passed,
            },
            ratio,
            *assets.parameters,
        ),
    ]
    award = None
    if all(check.passed for check in checks):
        award = _per_person_award(
            programme, "disability_living_subsidy_amount", len(certificates), c, on, params, checks
        )
    return ProgrammeAssessment(programme, tuple(checks), award)


@fixed_context
def assess_disability_nursing_subsidy(
    c: HouseholdCircumstances, on: date, params: PolicyParameters
) -> ProgrammeAssessment:
    """Severe-disability nursing subsidy: grade 1-2, or grade 3 intellectual/mental."""
    programme = Programme.DISABILITY_NURSING_SUBSIDY
    severe = tuple(cert for cert in c.disability_certificates if is_severe_disability(cert))
    checks = [
        _check(
            programme,
            "severe_disability",
            bool(severe),
            f"{len(severe)} severe disability(ies) (grade 1-2, or grade 3 intellectual/mental)"
            if severe
            else "no grade 1-2, or grade 3 intellectual/mental, disability",
            {
                "certificates": tuple(cert.label for cert in c.disability_certificates),
                "severe": tuple(cert.label for cert in severe),
            },
        )
    ]
    award = None
    if severe:
        award = _per_person_award(
            programme, "disability_nursing_subsidy_amount", len(severe), c, on, params, checks
        )
    return ProgrammeAssessment(programme, tuple(checks), award)


def _per_person_award(
    programme: Programme,
    parameter: str,
    persons: int,
    c: HouseholdCircumstances,
    on: date,
    params: PolicyParameters,
    checks: list[RuleCheck],
) -> ProgrammeAward:
    """A monthly subsidy paid per qualifying person; appends its ``amount`` check to ``checks``."""
    subsidy = params.used(parameter, on, c.district)
    amount = round_money(subsidy.value * persons)
    checks.append(
        _check(
            programme,
            "amount",
            True,
            f"{display(subsidy.value)} x {persons} person(s) = {amount} per month",
            {"persons": persons, "monthly_amount": amount},
            subsidy,
        )
    )
    return ProgrammeAward(programme, effective_from=on, monthly_amount=amount)

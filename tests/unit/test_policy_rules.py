"""Each programme's rules: pass and fail, boundaries, districts, dates, amounts."""

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from outreach.policy import (
    DEFAULT_POLICY,
    Assets,
    DisabilityCategory,
    DisabilityCertificate,
    HouseholdCircumstances,
    LaborCapacity,
    Programme,
    ProgrammeAssessment,
    assess_dibao,
    assess_disability_living_subsidy,
    assess_disability_nursing_subsidy,
    assess_tekun,
    assess_temporary_assistance,
    is_severe_disability,
    parse_policy,
)

IN_2023 = date(2023, 7, 1)
IN_2022 = date(2022, 12, 31)
NONE, PARTIAL, FULL = LaborCapacity.NONE, LaborCapacity.PARTIAL, LaborCapacity.FULL
D = Decimal


def yongding_family(**changes: Any) -> HouseholdCircumstances:
    """The seed's Yongding household: four people, urban, no income, the spouse able to work."""
    base = HouseholdCircumstances(
        district="yongding",
        urban=True,
        household_size=4,
        monthly_income_total=D(0),
        labor_capacities=(NONE, FULL, NONE, NONE),
        has_supporter=False,
        medical_out_of_pocket=(D(150000),),
    )
    return replace(base, **changes)


def single(**changes: Any) -> HouseholdCircumstances:
    """A one-person urban household in Cili with full labour capacity and no income."""
    base = HouseholdCircumstances(
        district="cili",
        urban=True,
        household_size=1,
        monthly_income_total=D(0),
        labor_capacities=(FULL,),
        has_supporter=True,
    )
    return replace(base, **changes)


def tekun_person(**changes: Any) -> HouseholdCircumstances:
    return single(**{"labor_capacities": (NONE,), "has_supporter": False, **changes})


def cert(category: DisabilityCategory, grade: int) -> DisabilityCertificate:
    return DisabilityCertificate(category=category, grade=grade)


def rule(assessment: ProgrammeAssessment, name: str) -> Any:
    matches = [c for c in assessment.checks if c.rule == f"{assessment.programme.value}.{name}"]
    assert len(matches) == 1, [c.rule for c in assessment.checks]
    return matches[0]


def monthly(assessment: ProgrammeAssessment) -> Decimal | None:
    return assessment.award.monthly_amount if assessment.award else None


# --- dibao -------------------------------------------------------------------------------------


def test_dibao_yongding_example_2023() -> None:
    result = assess_dibao(yongding_family(), IN_2023, DEFAULT_POLICY)
    assert result.eligible
    assert result.award is not None
    assert result.award.programme == Programme.DIBAO
    assert result.award.monthly_amount == D("2600.00")
    assert result.award.one_off_amount is None
    assert result.award.effective_from == IN_2023
    amount = rule(result, "amount")
    assert "(650.00 - 0.00) x 4 = 2600.00" in amount.explanation
    standard = amount.parameter("urban_dibao_standard")
    assert (standard.value, standard.effective_from) == (D(650), date(2023, 1, 1))


def test_dibao_yongding_example_before_the_standard_changed() -> None:
    result = assess_dibao(yongding_family(), IN_2022, DEFAULT_POLICY)
    assert monthly(result) == D("2480.00")
    standard = rule(result, "income_below_standard").parameter("urban_dibao_standard")
    assert (standard.value, standard.effective_from) == (D(620), date(2022, 1, 1))


def test_dibao_on_the_day_the_standard_changed() -> None:
    assert monthly(assess_dibao(yongding_family(), date(2023, 1, 1), DEFAULT_POLICY)) == D(
        "2600.00"
    )


def test_dibao_differential_amount() -> None:
    result = assess_dibao(yongding_family(monthly_income_total=D(1000)), IN_2023, DEFAULT_POLICY)
    assert monthly(result) == D("1600.00")  # (650 - 250) x 4
    check = rule(result, "income_below_standard")
    assert check.inputs["per_capita_monthly_income"] == D("250.00")
    assert check.inputs["monthly_income_total"] == D(1000)
    assert check.inputs["household_size"] == 4


def test_dibao_per_capita_income_equal_to_the_standard_is_not_eligible() -> None:
    result = assess_dibao(yongding_family(monthly_income_total=D(2600)), IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    assert result.failed == (rule(result, "income_below_standard"),)
    assert "not below" in rule(result, "income_below_standard").explanation


def test_dibao_just_below_the_standard() -> None:
    result = assess_dibao(
        yongding_family(monthly_income_total=D("2599.99")), IN_2023, DEFAULT_POLICY
    )
    assert monthly(result) == D("0.01")


@pytest.mark.parametrize(
    ("district", "on", "expected", "applies_to", "effective_from"),
    [
        ("yongding", IN_2023, "441.67", "yongding", date(2023, 1, 1)),  # 5300 / 12
        ("wulingyuan", IN_2023, "441.67", "wulingyuan", date(2023, 1, 1)),
        ("cili", IN_2023, "416.67", "default", date(2023, 1, 1)),  # 5000 / 12
        ("yongding", IN_2022, "400.00", "default", date(2022, 1, 1)),  # 4800 / 12
    ],
)
def test_dibao_rural_annual_standard_by_district(
    district: str, on: date, expected: str, applies_to: str, effective_from: date
) -> None:
    household = single(district=district, urban=False)
    result = assess_dibao(household, on, DEFAULT_POLICY)
    assert monthly(result) == D(expected)
    standard = rule(result, "amount").parameter("rural_dibao_standard")
    assert standard.applies_to == applies_to
    assert standard.effective_from == effective_from
    assert standard.unit == "yuan/person/year"


def test_dibao_rounds_only_at_the_end() -> None:
    # (5000 / 12 - 100 / 3) x 3 = 1150 exactly; rounding the monthly standard first
    # (416.67 x 3 - 100) would give 1150.01.
    household = single(
        urban=False, household_size=3, labor_capacities=(), monthly_income_total=D(100)
    )
    assert monthly(assess_dibao(household, IN_2023, DEFAULT_POLICY)) == D("1150.00")


def test_dibao_rural_boundary_is_exact() -> None:
    # Per-capita income exactly 5000 / 12 (a household of 12 earning 5000 a month).
    household = single(
        urban=False, household_size=12, labor_capacities=(), monthly_income_total=D(5000)
    )
    assert not assess_dibao(household, IN_2023, DEFAULT_POLICY).eligible
    poorer = replace(household, monthly_income_total=D("4999.99"))
    assert monthly(assess_dibao(poorer, IN_2023, DEFAULT_POLICY)) == D("0.01")


@pytest.mark.parametrize(
    ("assets", "problem"),
    [
        (Assets(vehicles=1), "vehicle"),
        (Assets(homes=2), "home"),
        (Assets(business_premises=1), "business premises"),
        (Assets(financial_assets=D("62400.01")), "financial assets"),  # 24 x 650 x 4 = 62400
    ],
)
def test_dibao_assets_test_fails(assets: Assets, problem: str) -> None:
    result = assess_dibao(yongding_family(assets=assets), IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    check = rule(result, "assets")
    assert not check.passed
    assert problem in check.explanation
    assert result.failed == (check,)
    names = {p.name for p in check.parameters}
    assert {"asset_max_vehicles", "asset_max_homes", "asset_max_financial_months"} <= names


def test_dibao_assets_at_the_limits_pass() -> None:
    assets = Assets(vehicles=0, homes=1, business_premises=0, financial_assets=D(62400))
    result = assess_dibao(yongding_family(assets=assets), IN_2023, DEFAULT_POLICY)
    assert result.eligible
    assert rule(result, "assets").inputs["financial_assets_limit"] == D("62400.00")


def test_dibao_is_not_awarded_to_a_tekun_eligible_household() -> None:
    result = assess_dibao(tekun_person(), IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    check = rule(result, "not_tekun")
    assert not check.passed
    assert check.inputs["tekun_eligible"] is True
    assert result.failed == (check,)


def test_dibao_is_not_awarded_to_a_household_receiving_tekun() -> None:
    household = single(existing_benefits=(Programme.TEKUN,))
    result = assess_dibao(household, IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    assert rule(result, "not_tekun").inputs["receives_tekun"] is True


def test_dibao_checks_every_rule_even_after_a_failure() -> None:
    household = yongding_family(monthly_income_total=D(9999), assets=Assets(vehicles=2))
    result = assess_dibao(household, IN_2023, DEFAULT_POLICY)
    assert [c.rule for c in result.checks] == [
        "dibao.income_below_standard",
        "dibao.assets",
        "dibao.not_tekun",
    ]
    assert [c.passed for c in result.checks] == [False, False, True]


def test_dibao_district_override_from_a_policy_file() -> None:
    policy = parse_policy(
        '[urban_dibao_standard]\n"2023-06-01" = { default = 660, yongding = 700 }'
    )
    result = assess_dibao(yongding_family(), IN_2023, policy)
    assert monthly(result) == D("2800.00")
    used = rule(result, "amount").parameter("urban_dibao_standard")
    assert (used.value, used.applies_to, used.effective_from) == (
        D(700),
        "yongding",
        date(2023, 6, 1),
    )
    # Before the file's new period the default schedule still applies.
    assert monthly(assess_dibao(yongding_family(), date(2023, 5, 31), policy)) == D("2600.00")


# --- tekun -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("household", "expected"),
    [
        (tekun_person(), "845.00"),  # 1.3 x 650
        (tekun_person(urban=False), "541.67"),  # 1.3 x 5000 / 12
        (  # 1.3 x 5300 x 2 / 12 = 1148.333...
            tekun_person(
                district="yongding", urban=False, household_size=2, labor_capacities=(NONE, NONE)
            ),
            "1148.33",
        ),
    ],
)
def test_tekun_amount(household: HouseholdCircumstances, expected: str) -> None:
    result = assess_tekun(household, IN_2023, DEFAULT_POLICY)
    assert monthly(result) == D(expected)
    ratio = rule(result, "amount").parameter("tekun_standard_ratio")
    assert (ratio.value, ratio.effective_from) == (D("1.3"), date(2022, 1, 1))


def test_tekun_before_the_standard_changed() -> None:
    assert monthly(assess_tekun(tekun_person(), IN_2022, DEFAULT_POLICY)) == D("806.00")


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"labor_capacities": (PARTIAL,)}, "no_labor_capacity"),
        ({"labor_capacities": (FULL,)}, "no_labor_capacity"),
        ({"labor_capacities": ()}, "no_labor_capacity"),
        ({"monthly_income_total": D("0.01")}, "no_income"),
        ({"has_supporter": True}, "no_supporter"),
        ({"assets": Assets(vehicles=1)}, "assets"),
    ],
)
def test_tekun_each_rule_fails(changes: dict[str, Any], failing: str) -> None:
    household = replace(tekun_person(), **changes)
    result = assess_tekun(household, IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    assert [c.rule for c in result.failed] == [f"tekun.{failing}"]


def test_tekun_needs_every_member_without_labour_capacity() -> None:
    result = assess_tekun(yongding_family(), IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    check = rule(result, "no_labor_capacity")
    assert check.inputs["labor_capacities"] == ("none", "full", "none", "none")
    assert "1 member(s)" in check.explanation


# --- temporary assistance ---------------------------------------------------------------------


def test_temporary_assistance_after_a_large_bill_is_capped() -> None:
    result = assess_temporary_assistance(yongding_family(), IN_2023, DEFAULT_POLICY)
    assert result.award is not None
    assert result.award.one_off_amount == D("3900.00")  # min(0.1 x 150000, 6 x 650)
    assert result.award.monthly_amount is None
    amount = rule(result, "amount")
    assert amount.inputs["capped"] is True
    assert {p.name for p in amount.parameters} == {
        "temporary_assistance_rate",
        "temporary_assistance_cap_months",
        "urban_dibao_standard",
    }


def test_temporary_assistance_cap_follows_the_standard_of_the_day() -> None:
    result = assess_temporary_assistance(yongding_family(), IN_2022, DEFAULT_POLICY)
    assert result.award is not None
    assert result.award.one_off_amount == D("3720.00")  # 6 x 620
    rural = yongding_family(urban=False)
    result = assess_temporary_assistance(rural, IN_2023, DEFAULT_POLICY)
    assert result.award is not None
    assert result.award.one_off_amount == D("2650.00")  # 6 x 5300 / 12


@pytest.mark.parametrize(
    ("bills", "eligible", "amount"),
    [
        ((D("9999.99"),), False, None),
        ((D(10000),), True, D("1000.00")),
        ((D(6000), D(4000)), True, D("1000.00")),  # the bills are summed
        ((D("10000.05"),), True, D("1000.01")),  # 1000.005 rounds half up
        ((), False, None),
    ],
)
def test_temporary_assistance_trigger(
    bills: tuple[Decimal, ...], eligible: bool, amount: Decimal | None
) -> None:
    result = assess_temporary_assistance(
        yongding_family(medical_out_of_pocket=bills), IN_2023, DEFAULT_POLICY
    )
    assert result.eligible is eligible
    check = rule(result, "medical_out_of_pocket")
    assert check.passed is eligible
    trigger = check.parameter("medical_out_of_pocket_trigger")
    assert (trigger.value, trigger.effective_from) == (D(10000), date(2022, 1, 1))
    if amount is not None:
        assert result.award is not None
        assert result.award.one_off_amount == amount
        assert rule(result, "amount").inputs["capped"] is False


def test_temporary_assistance_low_income_boundary() -> None:
    # Low-income threshold 1.5 x 650 = 975 per person.
    household = single(medical_out_of_pocket=(D(20000),), monthly_income_total=D(975))
    result = assess_temporary_assistance(household, IN_2023, DEFAULT_POLICY)
    assert [c.rule for c in result.failed] == ["temporary_assistance.low_income"]
    assert rule(result, "low_income").inputs["low_income_threshold"] == D("975.00")
    poorer = replace(household, monthly_income_total=D("974.99"))
    assert assess_temporary_assistance(poorer, IN_2023, DEFAULT_POLICY).eligible


def test_temporary_assistance_assets_test() -> None:
    household = yongding_family(assets=Assets(vehicles=1))
    result = assess_temporary_assistance(household, IN_2023, DEFAULT_POLICY)
    assert [c.rule for c in result.failed] == ["temporary_assistance.assets"]


def test_temporary_assistance_amount_and_cap_are_parameters() -> None:
    policy = parse_policy("temporary_assistance_rate = 0.5\ntemporary_assistance_cap_months = 12")
    household = yongding_family(medical_out_of_pocket=(D(12000),))
    result = assess_temporary_assistance(household, IN_2023, policy)
    assert result.award is not None
    assert result.award.one_off_amount == D("6000.00")  # 0.5 x 12000, under 12 x 650
    big = assess_temporary_assistance(yongding_family(), IN_2023, policy)
    assert big.award is not None
    assert big.award.one_off_amount == D("7800.00")  # capped at 12 x 650


# --- disability living subsidy ----------------------------------------------------------------


def test_living_subsidy_in_a_household_awarded_dibao() -> None:
    household = yongding_family(disability_certificates=(cert(DisabilityCategory.PHYSICAL, 4),))
    result = assess_disability_living_subsidy(household, IN_2023, DEFAULT_POLICY)
    assert monthly(result) == D("80.00")
    means = rule(result, "dibao_or_low_income")
    assert means.inputs["dibao_awarded"] is True
    assert "awarded dibao" in means.explanation
    subsidy = rule(result, "amount").parameter("disability_living_subsidy_amount")
    assert (subsidy.value, subsidy.effective_from) == (D(80), date(2023, 1, 1))


def test_living_subsidy_before_the_standard_changed() -> None:
    household = yongding_family(
        disability_certificates=(
            cert(DisabilityCategory.PHYSICAL, 4),
            cert(DisabilityCategory.VISUAL, 2),
        )
    )
    assert monthly(assess_disability_living_subsidy(household, IN_2022, DEFAULT_POLICY)) == D(
        "150.00"
    )  # 75 x 2 persons


def test_living_subsidy_in_a_household_already_on_dibao() -> None:
    # Income above the dibao standard today, but the household is enrolled.
    household = single(
        monthly_income_total=D(2000),
        existing_benefits=(Programme.DIBAO,),
        disability_certificates=(cert(DisabilityCategory.HEARING, 3),),
    )
    result = assess_disability_living_subsidy(household, IN_2023, DEFAULT_POLICY)
    assert result.eligible
    assert rule(result, "dibao_or_low_income").inputs["receives_dibao"] is True


def test_living_subsidy_in_a_low_income_household() -> None:
    # 700 per person: above dibao (650), below low income (975).
    household = single(
        monthly_income_total=D(700),
        disability_certificates=(cert(DisabilityCategory.HEARING, 3),),
    )
    result = assess_disability_living_subsidy(household, IN_2023, DEFAULT_POLICY)
    assert monthly(result) == D("80.00")
    means = rule(result, "dibao_or_low_income")
    assert means.inputs["dibao_awarded"] is False
    assert means.inputs["income_below_low_income_threshold"] is True
    assert "low-income household" in means.explanation
    ratio = means.parameter("low_income_ratio")
    assert (ratio.value, ratio.effective_from) == (D("1.5"), date(2022, 1, 1))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"monthly_income_total": D(975)}, "not below 975.00"),
        ({"monthly_income_total": D(700), "assets": Assets(vehicles=1)}, "vehicle"),
    ],
)
def test_living_subsidy_fails_outside_dibao_and_low_income(
    changes: dict[str, Any], reason: str
) -> None:
    household = single(disability_certificates=(cert(DisabilityCategory.HEARING, 3),), **changes)
    result = assess_disability_living_subsidy(household, IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    check = rule(result, "dibao_or_low_income")
    assert [c.rule for c in result.failed] == [check.rule]
    assert reason in check.explanation


def test_living_subsidy_needs_a_certificate() -> None:
    result = assess_disability_living_subsidy(yongding_family(), IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    assert [c.rule for c in result.failed] == ["disability_living_subsidy.certified_disability"]


def test_living_subsidy_for_a_tekun_person_through_low_income() -> None:
    household = tekun_person(disability_certificates=(cert(DisabilityCategory.PHYSICAL, 1),))
    result = assess_disability_living_subsidy(household, IN_2023, DEFAULT_POLICY)
    assert result.eligible
    assert rule(result, "dibao_or_low_income").inputs["dibao_awarded"] is False


# --- severe-disability nursing subsidy --------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "grade", "severe"),
    [
        (DisabilityCategory.PHYSICAL, 1, True),
        (DisabilityCategory.VISUAL, 2, True),
        (DisabilityCategory.MULTIPLE, 1, True),
        (DisabilityCategory.INTELLECTUAL, 3, True),
        (DisabilityCategory.MENTAL, 3, True),
        (DisabilityCategory.PHYSICAL, 3, False),
        (DisabilityCategory.HEARING, 3, False),
        (DisabilityCategory.MENTAL, 4, False),
        (DisabilityCategory.INTELLECTUAL, 4, False),
    ],
)
def test_nursing_subsidy_severity(category: DisabilityCategory, grade: int, severe: bool) -> None:
    certificate = cert(category, grade)
    assert is_severe_disability(certificate) is severe
    # No means test: a household well above every threshold still qualifies.
    household = single(monthly_income_total=D(20000), disability_certificates=(certificate,))
    result = assess_disability_nursing_subsidy(household, IN_2023, DEFAULT_POLICY)
    assert result.eligible is severe
    assert rule(result, "severe_disability").passed is severe
    if severe:
        assert monthly(result) == D("80.00")


def test_nursing_subsidy_counts_severely_disabled_members_and_dates() -> None:
    household = yongding_family(
        disability_certificates=(
            DisabilityCertificate(DisabilityCategory.PHYSICAL, 1, holder="member-1"),
            DisabilityCertificate(DisabilityCategory.MENTAL, 3, holder="member-2"),
            DisabilityCertificate(DisabilityCategory.PHYSICAL, 3, holder="member-3"),
        )
    )
    result = assess_disability_nursing_subsidy(household, IN_2023, DEFAULT_POLICY)
    assert monthly(result) == D("160.00")
    check = rule(result, "severe_disability")
    assert check.inputs["severe"] == ("member-1: physical grade 1", "member-2: mental grade 3")
    before = assess_disability_nursing_subsidy(household, IN_2022, DEFAULT_POLICY)
    assert monthly(before) == D("150.00")
    subsidy = rule(before, "amount").parameter("disability_nursing_subsidy_amount")
    assert (subsidy.value, subsidy.effective_from) == (D(75), date(2022, 1, 1))


def test_nursing_subsidy_without_certificates() -> None:
    result = assess_disability_nursing_subsidy(yongding_family(), IN_2023, DEFAULT_POLICY)
    assert not result.eligible
    assert [c.rule for c in result.checks] == ["disability_nursing_subsidy.severe_disability"]

"""decide(): every programme at once, the trace, JSON form, determinism, Temporal payloads."""

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal, localcontext
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from outreach.policy import (
    DEFAULT_POLICY,
    Assets,
    Decision,
    DisabilityCategory,
    DisabilityCertificate,
    HouseholdCircumstances,
    LaborCapacity,
    ParameterNotInForceError,
    PolicyParameters,
    Programme,
    decide,
    parse_policy,
)

D = Decimal
NONE, FULL = LaborCapacity.NONE, LaborCapacity.FULL
EVALUATION_ORDER = [
    "tekun",
    "dibao",
    "temporary_assistance",
    "disability_living_subsidy",
    "disability_nursing_subsidy",
]


def yongding_family(**changes: Any) -> HouseholdCircumstances:
    """The seed's Yongding household (2023): four people, urban, no income, a 150,000 bill."""
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


def test_yongding_example_after_the_change() -> None:
    decision = decide(yongding_family(), date(2023, 7, 1), DEFAULT_POLICY)
    dibao = decision.award(Programme.DIBAO)
    assert dibao is not None
    assert dibao.monthly_amount == D("2600.00")
    assert decision.award("tekun") is None
    assert decision.programmes == (Programme.DIBAO, Programme.TEMPORARY_ASSISTANCE)
    assert decision.eligible
    assert decision.district == "yongding"
    assert decision.decided_on == date(2023, 7, 1)


def test_yongding_example_before_the_change() -> None:
    decision = decide(yongding_family(), date(2022, 12, 31), DEFAULT_POLICY)
    dibao = decision.award(Programme.DIBAO)
    assert dibao is not None
    assert dibao.monthly_amount == D("2480.00")
    used = decision.check("dibao.amount").parameter("urban_dibao_standard")
    assert (used.value, used.effective_from) == (D(620), date(2022, 1, 1))


def test_trace_covers_every_programme_in_order() -> None:
    decision = decide(yongding_family(), date(2023, 7, 1), DEFAULT_POLICY)
    programmes_in_trace = list(dict.fromkeys(check.programme for check in decision.trace))
    assert programmes_in_trace == EVALUATION_ORDER
    assert set(EVALUATION_ORDER) == {p.value for p in Programme}
    assert [c.rule for c in decision.checks(Programme.DIBAO)] == [
        "dibao.income_below_standard",
        "dibao.assets",
        "dibao.not_tekun",
        "dibao.amount",
    ]
    with pytest.raises(KeyError):
        decision.check("dibao.nonexistent")


def test_trace_records_parameter_values_and_effective_dates() -> None:
    decision = decide(yongding_family(), date(2023, 7, 1), DEFAULT_POLICY)
    used = {
        (p.name, p.value, p.effective_from) for check in decision.trace for p in check.parameters
    }
    assert ("urban_dibao_standard", D(650), date(2023, 1, 1)) in used
    assert ("medical_out_of_pocket_trigger", D(10000), date(2022, 1, 1)) in used
    assert ("temporary_assistance_rate", D("0.1"), date(2022, 1, 1)) in used
    assert ("low_income_ratio", D("1.5"), date(2022, 1, 1)) in used
    # The rules that decide awards name the parameters they used.
    for check in decision.trace:
        if check.rule.endswith(".amount"):
            assert check.parameters, check.rule


def test_to_dict_is_json_safe() -> None:
    decision = decide(yongding_family(), date(2023, 7, 1), DEFAULT_POLICY)
    data = decision.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["programmes"] == [
        {"programme": "dibao", "monthly_amount": "2600.00", "effective_from": "2023-07-01"},
        {
            "programme": "temporary_assistance",
            "one_off_amount": "3900.00",
            "effective_from": "2023-07-01",
        },
    ]
    trace = data["trace"]
    assert isinstance(trace, list)
    amount = next(c for c in trace if isinstance(c, dict) and c["rule"] == "dibao.amount")
    assert amount == {
        "rule": "dibao.amount",
        "programme": "dibao",
        "passed": True,
        "inputs": {
            "monthly_income_total": "0",
            "household_size": 4,
            "per_capita_monthly_income": "0.00",
            "monthly_amount": "2600.00",
        },
        "parameters": [
            {
                "name": "urban_dibao_standard",
                "value": "650",
                "unit": "yuan/person/month",
                "effective_from": "2023-01-01",
                "applies_to": "default",
            }
        ],
        "explanation": "(650.00 - 0.00) x 4 = 2600.00 per month",
    }
    assert decision.trace_to_dicts() == trace


def test_new_grade_1_certificate_gives_the_nursing_subsidy() -> None:
    household = HouseholdCircumstances(
        district="cili",
        urban=False,
        household_size=3,
        monthly_income_total=D(6000),
        labor_capacities=(FULL, FULL, NONE),
        disability_certificates=(DisabilityCertificate(DisabilityCategory.PHYSICAL, 1),),
    )
    decision = decide(household, date(2023, 7, 1), DEFAULT_POLICY)
    assert decision.programmes == (Programme.DISABILITY_NURSING_SUBSIDY,)
    nursing = decision.award(Programme.DISABILITY_NURSING_SUBSIDY)
    assert nursing is not None
    assert nursing.monthly_amount == D("80.00")
    assert not decision.check("disability_living_subsidy.dibao_or_low_income").passed


def test_disabled_member_of_a_dibao_household_gets_both_subsidies() -> None:
    household = yongding_family(
        medical_out_of_pocket=(),
        disability_certificates=(DisabilityCertificate(DisabilityCategory.MENTAL, 3),),
    )
    decision = decide(household, date(2023, 7, 1), DEFAULT_POLICY)
    assert decision.programmes == (
        Programme.DIBAO,
        Programme.DISABILITY_LIVING_SUBSIDY,
        Programme.DISABILITY_NURSING_SUBSIDY,
    )


def test_tekun_replaces_dibao() -> None:
    household = HouseholdCircumstances(
        district="wulingyuan",
        urban=False,
        household_size=1,
        labor_capacities=(NONE,),
        has_supporter=False,
    )
    decision = decide(household, date(2023, 7, 1), DEFAULT_POLICY)
    assert decision.programmes == (Programme.TEKUN,)
    tekun = decision.award(Programme.TEKUN)
    assert tekun is not None
    assert tekun.monthly_amount == D("574.17")  # 1.3 x 5300 / 12
    assert not decision.check("dibao.not_tekun").passed
    assert decision.check("dibao.income_below_standard").passed


def test_not_eligible() -> None:
    household = yongding_family(monthly_income_total=D(8000), medical_out_of_pocket=())
    decision = decide(household, date(2023, 7, 1), DEFAULT_POLICY)
    assert not decision.eligible
    assert decision.awards == ()
    assert decision.to_dict()["programmes"] == []


def test_new_awards_leave_out_existing_benefits() -> None:
    household = yongding_family(existing_benefits=(Programme.DIBAO,))
    decision = decide(household, date(2023, 7, 1), DEFAULT_POLICY)
    assert decision.programmes == (Programme.DIBAO, Programme.TEMPORARY_ASSISTANCE)
    assert [a.programme for a in decision.new_awards] == [Programme.TEMPORARY_ASSISTANCE]
    assert decision.already_receiving == (Programme.DIBAO,)


def test_a_date_before_the_first_parameters_raises() -> None:
    with pytest.raises(ParameterNotInForceError, match="2021-06-30"):
        decide(yongding_family(), date(2021, 6, 30), DEFAULT_POLICY)


def test_policy_file_changes_the_decision() -> None:
    policy = parse_policy('[urban_dibao_standard]\n"2024-01-01" = 680')
    decision = decide(yongding_family(), date(2024, 3, 1), policy)
    dibao = decision.award(Programme.DIBAO)
    assert dibao is not None
    assert dibao.monthly_amount == D("2720.00")
    used = decision.check("dibao.amount").parameter("urban_dibao_standard")
    assert used.effective_from == date(2024, 1, 1)


def test_deterministic_and_independent_of_the_callers_decimal_context() -> None:
    household = HouseholdCircumstances(
        district="sangzhi",
        urban=False,
        household_size=3,
        monthly_income_total=D("123.45"),
        assets=Assets(financial_assets=D("1000.10")),
        medical_out_of_pocket=(D("12345.67"),),
    )
    first = decide(household, date(2023, 7, 1), DEFAULT_POLICY)
    with localcontext() as ctx:
        ctx.prec = 3
        second = decide(household, date(2023, 7, 1), DEFAULT_POLICY)
    assert first == second
    assert first.to_dict() == second.to_dict()
    dibao = first.award(Programme.DIBAO)
    assert dibao is not None
    assert dibao.monthly_amount == D("1126.55")  # (5000 / 12 - 41.15) x 3 = 1250 - 123.45


@pytest.mark.parametrize(
    "bad",
    [
        {"household_size": 0},
        {"monthly_income_total": D(-1)},
        {"labor_capacities": (NONE, FULL)},
        {"medical_out_of_pocket": (D(-5),)},
        {"existing_benefits": ("pension",)},
        {
            "household_size": 1,
            "labor_capacities": (NONE,),
            "disability_certificates": (
                DisabilityCertificate(DisabilityCategory.MENTAL, 1),
                DisabilityCertificate(DisabilityCategory.MENTAL, 2),
            ),
        },
    ],
)
def test_circumstances_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        yongding_family(**bad)


def test_certificate_and_asset_validation() -> None:
    with pytest.raises(ValueError, match="grade"):
        DisabilityCertificate(DisabilityCategory.PHYSICAL, 5)
    with pytest.raises(ValueError):
        Assets(vehicles=-1)
    with pytest.raises(ValueError):
        Assets(financial_assets=D(-1))


def test_values_survive_temporal_payloads() -> None:
    """Inputs, decisions and parameters round-trip through Temporal's pydantic converter."""
    converter = pydantic_data_converter.payload_converter
    household = yongding_family(
        assets=Assets(homes=1, financial_assets=D("10.50")),
        disability_certificates=(DisabilityCertificate(DisabilityCategory.MENTAL, 3, "m2"),),
        existing_benefits=(Programme.DISABILITY_NURSING_SUBSIDY,),
    )
    [payload] = converter.to_payloads([household])
    [restored] = converter.from_payloads([payload], [HouseholdCircumstances])
    assert restored == household

    decision = decide(household, date(2023, 7, 1), DEFAULT_POLICY)
    [payload] = converter.to_payloads([decision])
    [restored_decision] = converter.from_payloads([payload], [Decision])
    assert restored_decision.awards == decision.awards
    assert restored_decision.to_dict() == decision.to_dict()

    policy = parse_policy('[durations]\npublicity = "PT5S"')
    [payload] = converter.to_payloads([policy])
    [restored_policy] = converter.from_payloads([payload], [PolicyParameters])
    assert restored_policy == policy

"""Parameter schedules: effective dates, district overrides, the built-in defaults."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from outreach.policy.defaults import (
    DEFAULT_POLICY,
    DURATION_SPECS,
    FIRST_EFFECTIVE,
    PARAMETER_SPECS,
    STANDARD_RAISED,
)
from outreach.policy.parameters import (
    ALWAYS,
    Parameter,
    ParameterNotInForceError,
    ParameterPeriod,
    PolicyLookupError,
    UnknownParameterError,
)

BEFORE = date(2022, 12, 31)
AFTER = date(2023, 1, 1)


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        ("urban_dibao_standard", 620, 650),
        ("rural_dibao_standard", 4800, 5000),
        ("disability_living_subsidy_amount", 75, 80),
        ("disability_nursing_subsidy_amount", 75, 80),
        ("orphan_scattered_standard", 950, 1100),
        ("orphan_centralized_standard", 1350, 1500),
        ("medical_out_of_pocket_trigger", 10000, 10000),
    ],
)
def test_seed_values_before_and_after_the_change(name: str, before: int, after: int) -> None:
    assert DEFAULT_POLICY.value_at(name, BEFORE, "cili") == (Decimal(before), FIRST_EFFECTIVE)
    expected_date = STANDARD_RAISED if before != after else FIRST_EFFECTIVE
    assert DEFAULT_POLICY.value_at(name, AFTER, "cili") == (Decimal(after), expected_date)


def test_rural_standard_district_overrides() -> None:
    for district in ("yongding", "wulingyuan", "Yongding", " WULINGYUAN "):
        assert DEFAULT_POLICY.value_at("rural_dibao_standard", AFTER, district) == (
            Decimal(5300),
            STANDARD_RAISED,
        )
    for district in ("cili", "sangzhi", ""):
        assert DEFAULT_POLICY.value_at("rural_dibao_standard", AFTER, district) == (
            Decimal(5000),
            STANDARD_RAISED,
        )
    # The override starts with the 2023 period; 2022 has one value for everyone.
    assert DEFAULT_POLICY.value_at("rural_dibao_standard", BEFORE, "yongding") == (
        Decimal(4800),
        FIRST_EFFECTIVE,
    )


def test_used_records_unit_and_district_key() -> None:
    used = DEFAULT_POLICY.used("rural_dibao_standard", date(2023, 7, 1), "yongding")
    assert used.value == Decimal(5300)
    assert used.unit == "yuan/person/year"
    assert used.effective_from == STANDARD_RAISED
    assert used.applies_to == "yongding"
    assert DEFAULT_POLICY.used("rural_dibao_standard", AFTER, "cili").applies_to == "default"


def test_documented_defaults_where_the_seed_is_silent() -> None:
    on = date(2023, 7, 1)
    expected = {
        "tekun_standard_ratio": Decimal("1.3"),
        "low_income_ratio": Decimal("1.5"),
        "temporary_assistance_rate": Decimal("0.1"),
        "temporary_assistance_cap_months": Decimal(6),
        "asset_max_vehicles": Decimal(0),
        "asset_max_homes": Decimal(1),
        "asset_max_business_premises": Decimal(0),
        "asset_max_financial_months": Decimal(24),
    }
    for name, value in expected.items():
        assert DEFAULT_POLICY.value_at(name, on) == (value, FIRST_EFFECTIVE)


def test_every_spec_has_a_default_and_vice_versa() -> None:
    assert set(DEFAULT_POLICY.parameters) == set(PARAMETER_SPECS)
    assert set(DEFAULT_POLICY.durations) == set(DURATION_SPECS)


def test_default_durations() -> None:
    durations = DEFAULT_POLICY.durations_at(date(2023, 7, 1), "yongding")
    assert durations.reminder_interval == timedelta(days=3)
    assert durations.visit_sla == timedelta(days=7)
    assert durations.publicity == timedelta(days=7)
    assert durations.max_reminders == 3
    # Flat durations are in force on any date.
    assert DEFAULT_POLICY.durations_at(date(1990, 1, 1)) == durations
    assert DEFAULT_POLICY.value_at("publicity", date(2023, 7, 1)) == (Decimal(7 * 86400), ALWAYS)


def test_date_before_first_value_raises() -> None:
    with pytest.raises(ParameterNotInForceError, match=r"urban_dibao_standard.*2021-12-31"):
        DEFAULT_POLICY.value_at("urban_dibao_standard", date(2021, 12, 31))


def test_unknown_parameter_raises() -> None:
    with pytest.raises(UnknownParameterError, match="no_such_thing"):
        DEFAULT_POLICY.value_at("no_such_thing", AFTER)
    with pytest.raises(PolicyLookupError):
        DEFAULT_POLICY.used("no_such_thing", AFTER)


def test_period_boundaries() -> None:
    parameter = Parameter(
        name="x",
        unit="yuan",
        description="",
        periods=(
            ParameterPeriod(date(2020, 1, 1), Decimal(1)),
            ParameterPeriod(date(2021, 1, 1), Decimal(2), {"cili": Decimal(3)}),
            ParameterPeriod(date(2022, 1, 1), Decimal(4)),
        ),
    )
    assert parameter.used(date(2020, 12, 31), "cili").value == Decimal(1)
    assert parameter.used(date(2021, 1, 1), "cili").value == Decimal(3)
    assert parameter.used(date(2021, 1, 1), "other").value == Decimal(2)
    # An override does not carry into a later period without one.
    assert parameter.used(date(2022, 1, 1), "cili").value == Decimal(4)
    assert parameter.used(date(2099, 1, 1)).effective_from == date(2022, 1, 1)


def test_parameter_rejects_unsorted_or_empty_periods() -> None:
    with pytest.raises(ValueError, match="no values"):
        Parameter("x", "yuan", "", ())
    with pytest.raises(ValueError, match="ascending"):
        Parameter(
            "x",
            "yuan",
            "",
            (
                ParameterPeriod(date(2021, 1, 1), Decimal(1)),
                ParameterPeriod(date(2020, 1, 1), Decimal(1)),
            ),
        )


def test_policy_to_dict_is_file_shaped() -> None:
    dumped = DEFAULT_POLICY.to_dict()
    assert dumped["urban_dibao_standard"] == {"2022-01-01": "620", "2023-01-01": "650"}
    assert dumped["rural_dibao_standard"] == {
        "2022-01-01": "4800",
        "2023-01-01": {"default": "5000", "wulingyuan": "5300", "yongding": "5300"},
    }
    assert dumped["durations"] == {
        "reminder_interval": {"0001-01-01": "P3D"},
        "visit_sla": {"0001-01-01": "P7D"},
        "publicity": {"0001-01-01": "P7D"},
        "max_reminders": {"0001-01-01": 3},
    }

"""The TOML policy file (CONTRACT.md "Policy file") merged over the defaults."""

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from outreach.policy.defaults import DEFAULT_POLICY
from outreach.policy.loader import PolicyFileError, load_policy, parse_policy
from outreach.policy.parameters import ALWAYS

EXAMPLE = """
[urban_dibao_standard]
"2022-01-01" = 620
"2023-01-01" = 650
[rural_dibao_standard]
"2022-01-01" = 4800
"2023-01-01" = { default = 5000, yongding = 5300, wulingyuan = 5300 }
[durations]
reminder_interval = "PT10S"
visit_sla = "PT30S"
publicity = "PT5S"
max_reminders = 2
"""


def test_load_the_example_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    policy = load_policy(path)
    on = date(2023, 7, 1)
    assert policy.value_at("urban_dibao_standard", on) == (Decimal(650), date(2023, 1, 1))
    assert policy.value_at("urban_dibao_standard", date(2022, 12, 31)) == (
        Decimal(620),
        date(2022, 1, 1),
    )
    assert policy.value_at("rural_dibao_standard", on, "wulingyuan") == (
        Decimal(5300),
        date(2023, 1, 1),
    )
    assert policy.value_at("rural_dibao_standard", on, "cili")[0] == Decimal(5000)
    durations = policy.durations_at(on, "yongding")
    assert durations.reminder_interval == timedelta(seconds=10)
    assert durations.visit_sla == timedelta(seconds=30)
    assert durations.publicity == timedelta(seconds=5)
    assert durations.max_reminders == 2
    # Parameters the file does not name keep their defaults.
    name = "disability_nursing_subsidy_amount"
    assert policy.parameters[name] == DEFAULT_POLICY.parameters[name]


def test_no_path_means_defaults() -> None:
    assert load_policy(None) is DEFAULT_POLICY


def test_dated_values_merge_by_date() -> None:
    policy = parse_policy(
        """
        [urban_dibao_standard]
        2024-01-01 = 680.5      # a bare date key is fine too
        "2023-01-01" = 655
        """
    )
    parameter = policy.parameters["urban_dibao_standard"]
    assert [(p.effective_from, p.default) for p in parameter.periods] == [
        (date(2022, 1, 1), Decimal(620)),
        (date(2023, 1, 1), Decimal(655)),
        (date(2024, 1, 1), Decimal("680.5")),
    ]


def test_flat_value_replaces_the_schedule() -> None:
    policy = parse_policy(
        """
        medical_out_of_pocket_trigger = 20000
        tekun_standard_ratio = 1.4
        [durations]
        publicity = "PT5S"
        """
    )
    assert policy.value_at("medical_out_of_pocket_trigger", date(2023, 7, 1)) == (
        Decimal(20000),
        ALWAYS,
    )
    assert policy.value_at("tekun_standard_ratio", date(2023, 7, 1))[0] == Decimal("1.4")
    assert policy.durations_at(date(2030, 1, 1)).publicity == timedelta(seconds=5)
    assert policy.durations_at(date(2030, 1, 1)).visit_sla == timedelta(days=7)


def test_dated_and_district_durations() -> None:
    policy = parse_policy(
        """
        [durations.visit_sla]
        "2024-01-01" = { default = "P5D", sangzhi = "P10D" }
        [durations]
        max_reminders = { "2024-01-01" = 5 }
        """
    )
    assert policy.durations_at(date(2023, 12, 31), "sangzhi").visit_sla == timedelta(days=7)
    assert policy.durations_at(date(2024, 1, 1), "sangzhi").visit_sla == timedelta(days=10)
    assert policy.durations_at(date(2024, 1, 1), "cili").visit_sla == timedelta(days=5)
    assert policy.durations_at(date(2023, 12, 31)).max_reminders == 3
    assert policy.durations_at(date(2024, 1, 1)).max_reminders == 5


def test_flat_district_table() -> None:
    policy = parse_policy("asset_max_vehicles = { default = 0, sangzhi = 1 }")
    assert policy.value_at("asset_max_vehicles", date(2023, 1, 1), "sangzhi") == (
        Decimal(1),
        ALWAYS,
    )


def test_float_is_read_exactly() -> None:
    policy = parse_policy('temporary_assistance_rate = { "2023-01-01" = 0.1 }')
    assert policy.value_at("temporary_assistance_rate", date(2023, 1, 1))[0] == Decimal("0.1")


@pytest.mark.parametrize(
    ("text", "parameter", "message"),
    [
        ('[urban_dibao_standard]\n"2023-13-01" = 650', "urban_dibao_standard", "effective date"),
        ('[urban_dibao_standard]\n"1 Jan 2023" = 650', "urban_dibao_standard", "effective date"),
        ('[urban_dibao_standard]\n"2023-01-01" = -1', "urban_dibao_standard", "negative"),
        (
            '[rural_dibao_standard]\n"2023-01-01" = { default = 5000, yongding = -5 }',
            "rural_dibao_standard",
            "negative",
        ),
        ('[urban_dibao_standard]\n"2023-01-01" = "650"', "urban_dibao_standard", "number"),
        ('[urban_dibao_standard]\n"2023-01-01" = true', "urban_dibao_standard", "number"),
        ('[urban_dibao_standard]\n"2023-01-01" = nan', "urban_dibao_standard", "finite"),
        ("[urban_dibao_standard]", "urban_dibao_standard", "empty"),
        (
            '[rural_dibao_standard]\n"2023-01-01" = { yongding = 5300 }',
            "rural_dibao_standard",
            "default",
        ),
        (
            '[rural_dibao_standard]\n"2023-01-01" = { default = 5000, Yongding = 5300 }',
            "rural_dibao_standard",
            "district key",
        ),
        ("asset_max_vehicles = 1.5", "asset_max_vehicles", "whole number"),
        ('[durations]\npublicity = "5 days"', "durations.publicity", "ISO 8601"),
        ('[durations]\npublicity = "P1M"', "durations.publicity", "ISO 8601"),
        ('[durations]\npublicity = "PT0S"', "durations.publicity", "positive"),
        ("[durations]\npublicity = 5", "durations.publicity", "ISO 8601"),
        ("[durations]\nmax_reminders = 2.5", "durations.max_reminders", "whole number"),
        ('[durations]\nmax_reminders = "2"', "durations.max_reminders", "number"),
        ('[durations]\nescalation = "P1D"', "durations.escalation", "unknown duration"),
        ("durations = 3", "durations", "table"),
        ('[urban_dibao_standrad]\n"2023-01-01" = 650', "urban_dibao_standrad", "unknown"),
        ('publicity = "PT5S"', "publicity", "[durations]"),
    ],
)
def test_invalid_files_name_the_parameter(text: str, parameter: str, message: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, source="policy.toml")
    error = caught.value
    assert error.parameter == parameter
    assert error.source == "policy.toml"
    assert f"parameter {parameter!r}" in str(error)
    assert message in str(error)


def test_invalid_toml() -> None:
    with pytest.raises(PolicyFileError, match=r"policy\.toml: invalid TOML"):
        parse_policy("[urban_dibao_standard", source="policy.toml")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyFileError, match="cannot read policy file") as caught:
        load_policy(missing)
    assert caught.value.source == str(missing)


def test_the_defaults_are_not_mutated() -> None:
    before = DEFAULT_POLICY.to_dict()
    parse_policy('urban_dibao_standard = { "2024-01-01" = 700 }\n[durations]\npublicity = "PT1S"')
    assert DEFAULT_POLICY.to_dict() == before


def test_merge_over_another_base() -> None:
    base = parse_policy('[durations]\npublicity = "PT5S"')
    policy = parse_policy("[durations]\nmax_reminders = 1", base=base)
    durations = policy.durations_at(date(2023, 1, 1))
    assert (durations.publicity, durations.max_reminders) == (timedelta(seconds=5), 1)

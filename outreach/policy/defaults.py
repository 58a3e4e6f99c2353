"""The built-in parameters: every name the policy knows, its unit, and its default schedule.

Sources. Zhangjiajie civil affairs, 2023 (``shared/seed/zhangjiajie-civil-affairs-2023.txt``):
urban dibao 620 -> 650 yuan/person/month; rural dibao 4800 -> 5000 yuan/person/year (Yongding and
Wulingyuan 5300); disabled-living subsidy and severe-disability nursing subsidy 75 -> 80
yuan/person/month; scattered orphans 950 -> 1100, centralized orphans 1350 -> 1500 yuan/month;
hospital out-of-pocket of 10,000 yuan or more as a trigger.

Dates. The seed gives last year's and this year's values, not dates. The earlier values are
given effect from :data:`FIRST_EFFECTIVE` (2022-01-01) and the raised ones from
:data:`STANDARD_RAISED` (2023-01-01), as DESIGN.md states. A decision dated before 2022-01-01
raises :class:`~outreach.policy.parameters.ParameterNotInForceError`.

Where the seed is silent (chosen here, overridable by the policy file, recorded in every trace):

- ``tekun_standard_ratio`` 1.3: the tekun basic-living standard is 1.3 x the local dibao
  standard (the national floor for 特困人员基本生活标准).
- ``low_income_ratio`` 1.5: a low-income household (低收入家庭) has per-capita income below
  1.5 x the local dibao standard (the usual national ceiling).
- ``temporary_assistance_rate`` 0.1 and ``temporary_assistance_cap_months`` 6: temporary
  assistance after a large hospital bill is 10 % of the out-of-pocket total, at most 6 months of
  the household's local monthly dibao standard (per household, not per person).
- Assets test (dibao, tekun, low income): at most ``asset_max_vehicles`` 0 motor vehicles,
  ``asset_max_homes`` 1 home, ``asset_max_business_premises`` 0 commercial properties, and
  per-capita financial assets of at most ``asset_max_financial_months`` 24 months of the local
  monthly dibao standard.
- Durations (flat, in force at any date): reminder_interval P3D, visit_sla P7D, publicity P7D
  (seven days of 公示), max_reminders 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from outreach.policy.durations import parse_duration, timedelta_to_seconds
from outreach.policy.parameters import ALWAYS, Parameter, ParameterPeriod, PolicyParameters

__all__ = [
    "DEFAULT_POLICY",
    "DURATION_SPECS",
    "FIRST_EFFECTIVE",
    "PARAMETER_SPECS",
    "STANDARD_RAISED",
    "ParameterKind",
    "ParameterSpec",
]

FIRST_EFFECTIVE = date(2022, 1, 1)
STANDARD_RAISED = date(2023, 1, 1)

ParameterKind = Literal["amount", "ratio", "count", "duration"]


@dataclass(frozen=True)
class ParameterSpec:
    """What a parameter is: its unit, the kind of value it takes, and what it means."""

    name: str
    unit: str
    kind: ParameterKind
    description: str


def _spec(name: str, unit: str, kind: ParameterKind, description: str) -> ParameterSpec:
    return ParameterSpec(name=name, unit=unit, kind=kind, description=description)


PARAMETER_SPECS: dict[str, ParameterSpec] = {
    spec.name: spec
    for spec in (
        _spec("urban_dibao_standard", "yuan/person/month", "amount", "urban dibao standard"),
        _spec(
            "rural_dibao_standard",
            "yuan/person/year",
            "amount",
            "rural dibao standard (divided by 12 for a month)",
        ),
        _spec(
            "tekun_standard_ratio",
            "x local dibao standard",
            "ratio",
            "tekun basic-living standard as a multiple of the local dibao standard",
        ),
        _spec(
            "low_income_ratio",
            "x local dibao standard",
            "ratio",
            "low-income threshold (per-capita income) as a multiple of the local dibao standard",
        ),
        _spec(
            "disability_living_subsidy_amount",
            "yuan/person/month",
            "amount",
            "living subsidy for a certified disabled person in a dibao or low-income household",
        ),
        _spec(
            "disability_nursing_subsidy_amount",
            "yuan/person/month",
            "amount",
            "nursing subsidy for a severely disabled person",
        ),
        _spec(
            "orphan_scattered_standard",
            "yuan/person/month",
            "amount",
            "basic living standard for orphans living with relatives (散居孤儿)",
        ),
        _spec(
            "orphan_centralized_standard",
            "yuan/person/month",
            "amount",
            "basic living standard for orphans in institutional care (集中养育孤儿)",
        ),
        _spec(
            "medical_out_of_pocket_trigger",
            "yuan",
            "amount",
            "hospital out-of-pocket total from which temporary assistance is considered",
        ),
        _spec(
            "temporary_assistance_rate",
            "share of out-of-pocket total",
            "ratio",
            "temporary assistance as a share of the medical out-of-pocket total",
        ),
        _spec(
            "temporary_assistance_cap_months",
            "months of local monthly dibao standard",
            "ratio",
            "cap on temporary assistance, in months of the local monthly dibao standard",
        ),
        _spec("asset_max_vehicles", "vehicles", "count", "motor vehicles allowed"),
        _spec("asset_max_homes", "homes", "count", "residential properties allowed"),
        _spec(
            "asset_max_business_premises",
            "properties",
            "count",
            "commercial properties allowed",
        ),
        _spec(
            "asset_max_financial_months",
            "months of local monthly dibao standard per person",
            "ratio",
            "per-capita financial assets allowed, in months of the local monthly dibao standard",
        ),
    )
}

DURATION_SPECS: dict[str, ParameterSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "reminder_interval",
            "seconds",
            "duration",
            "time between reminders while no visit has reached the household",
        ),
        _spec("visit_sla", "seconds", "duration", "time allowed for the home visit"),
        _spec("publicity", "seconds", "duration", "length of the publicity (公示) period"),
        _spec("max_reminders", "reminders", "count", "reminders before escalating"),
    )
}

_Value = int | str | dict[str, int | str]

_DEFAULT_SCHEDULES: dict[str, dict[date, _Value]] = {
    "urban_dibao_standard": {FIRST_EFFECTIVE: 620, STANDARD_RAISED: 650},
    "rural_dibao_standard": {
        FIRST_EFFECTIVE: 4800,
        STANDARD_RAISED: {"default": 5000, "yongding": 5300, "wulingyuan": 5300},
    },
    "tekun_standard_ratio": {FIRST_EFFECTIVE: "1.3"},
    "low_income_ratio": {FIRST_EFFECTIVE: "1.5"},
    "disability_living_subsidy_amount": {FIRST_EFFECTIVE: 75, STANDARD_RAISED: 80},
    "disability_nursing_subsidy_amount": {FIRST_EFFECTIVE: 75, STANDARD_RAISED: 80},
    "orphan_scattered_standard": {FIRST_EFFECTIVE: 950, STANDARD_RAISED: 1100},
    "orphan_centralized_standard": {FIRST_EFFECTIVE: 1350, STANDARD_RAISED: 1500},
    "medical_out_of_pocket_trigger": {FIRST_EFFECTIVE: 10000},
    "temporary_assistance_rate": {FIRST_EFFECTIVE: "0.1"},
    "temporary_assistance_cap_months": {FIRST_EFFECTIVE: 6},
    "asset_max_vehicles": {FIRST_EFFECTIVE: 0},
    "asset_max_homes": {FIRST_EFFECTIVE: 1},
    "asset_max_business_premises": {FIRST_EFFECTIVE: 0},
    "asset_max_financial_months": {FIRST_EFFECTIVE: 24},
}

_DEFAULT_DURATIONS: dict[str, _Value] = {
    "reminder_interval": "P3D",
    "visit_sla": "P7D",
    "publicity": "P7D",
    "max_reminders": 3,
}


def _number(value: int | str, spec: ParameterSpec) -> Decimal:
    if spec.kind == "duration":
        assert isinstance(value, str)
        return timedelta_to_seconds(parse_duration(value))
    return Decimal(value)


def _period(spec: ParameterSpec, effective_from: date, value: _Value) -> ParameterPeriod:
    if isinstance(value, dict):
        districts = {key: _number(v, spec) for key, v in value.items() if key != "default"}
        return ParameterPeriod(effective_from, _number(value["default"], spec), districts)
    return ParameterPeriod(effective_from, _number(value, spec))


def _parameter(spec: ParameterSpec, schedule: dict[date, _Value]) -> Parameter:
    periods = tuple(_period(spec, day, schedule[day]) for day in sorted(schedule))
    return Parameter(spec.name, spec.unit, spec.description, periods)


DEFAULT_POLICY = PolicyParameters(
    parameters={
        name: _parameter(PARAMETER_SPECS[name], schedule)
        for name, schedule in _DEFAULT_SCHEDULES.items()
    },
    durations={
        name: _parameter(DURATION_SPECS[name], {ALWAYS: value})
        for name, value in _DEFAULT_DURATIONS.items()
    },
)
"""The seed's parameters and the documented defaults above, with no policy file."""

"""Valid sample events of every inbound type, for tests, benchmarks and the demo.

Each builder returns a JSON-ready dict (a CloudEvent as an agency would send it, amounts as JSON
numbers) and takes the household and person it is about as parameters, so many distinct but
valid events can be made cheaply::

    event = certificate_issued(household_id=household_id_for(7), id_number=id_number_for(7))
    value = to_value(event)

ID numbers are real GB 11643 numbers (valid check digit) for Zhangjiajie area codes; they
belong to nobody in particular.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from outreach.events.identity import make_id_number

__all__ = [
    "AREA_CODES",
    "DEFAULT_HOUSEHOLD",
    "DEFAULT_ID_NUMBER",
    "SAMPLE_BUILDERS",
    "SAMPLE_TIME",
    "SOURCES",
    "certificate_expiring",
    "certificate_issued",
    "fact_reported",
    "household",
    "household_id_for",
    "household_listed",
    "id_number_for",
    "person",
    "sample_event",
    "settlement_recorded",
    "to_value",
    "to_value_with",
]

AREA_CODES: Final = MappingProxyType(
    {"yongding": "430802", "wulingyuan": "430811", "cili": "430821", "sangzhi": "430822"}
)
"""Administrative area codes (GB/T 2260) of Zhangjiajie's districts and counties."""

SOURCES: Final = MappingProxyType(
    {
        "disability": "/agencies/disability-federation/zhangjiajie",
        "medical": "/agencies/medical-insurance/zhangjiajie",
        "monitoring": "/agencies/rural-revitalization/zhangjiajie",
        "facts": "/agencies/data-exchange/zhangjiajie",
    }
)

SAMPLE_TIME: Final = "2024-03-01T09:30:00+08:00"

DEFAULT_HOUSEHOLD: Final = "HH-430802-000001"
DEFAULT_ID_NUMBER: Final = make_id_number("430802", date(1968, 4, 23), 31)
"""A Yongding man born 1968-04-23: 430802196804230316."""

Number = Decimal | int | float | str

_TOWNSHIPS: Final = {
    "yongding": "官黎坪街道",
    "wulingyuan": "军地坪街道",
    "cili": "零阳街道",
    "sangzhi": "澧源镇",
}


def id_number_for(index: int, *, district: str = "yongding") -> str:
    """A distinct valid ID number for each ``index`` in 0..19,999,999 (deterministic)."""
    if not 0 <= index < 20_000_000:
        raise ValueError("index must be between 0 and 19,999,999")
    born = date(1950, 1, 1) + timedelta(days=index % 20_000)
    return make_id_number(AREA_CODES.get(district, "430802"), born, index // 20_000)


def household_id_for(index: int, *, district: str = "yongding") -> str:
    """A household id like ``HH-430802-000007``."""
    return f"HH-{AREA_CODES.get(district, '430802')}-{index:06d}"


def person(
    id_number: str = DEFAULT_ID_NUMBER,
    *,
    name: str = "张建国",
    phone: str | None = "13907441234",
    address: str | None = "张家界市永定区官黎坪街道解放路18号",
) -> dict[str, Any]:
    out: dict[str, Any] = {"id_number": id_number, "name": name}
    if phone is not None:
        out["phone"] = phone
    if address is not None:
        out["address"] = address
    return out


def household(
    household_id: str = DEFAULT_HOUSEHOLD,
    *,
    district: str = "yongding",
    urban: bool = True,
    township: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"household_id": household_id, "district": district}
    chosen = township if township is not None else _TOWNSHIPS.get(district)
    if chosen is not None:
        out["township"] = chosen
    out["urban"] = urban
    return out


def certificate_issued(
    *,
    household_id: str = DEFAULT_HOUSEHOLD,
    id_number: str = DEFAULT_ID_NUMBER,
    district: str = "yongding",
    urban: bool = True,
    category: str = "physical",
    grade: int = 2,
    issued_on: date = date(2024, 2, 26),
    event_id: str | None = None,
    time: str = SAMPLE_TIME,
) -> dict[str, Any]:
    """disability.certificate.issued: a grade-2 physical disability certificate by default."""
    return _envelope(
        "disability.certificate.issued",
        SOURCES["disability"],
        event_id,
        time,
        {
            "person": person(id_number),
            "household": household(household_id, district=district, urban=urban),
            "certificate": {
                "number": f"{id_number}{_grade_suffix(category, grade)}",
                "category": category,
                "grade": grade,
                "issued_on": issued_on.isoformat(),
                "valid_until": _plus_years(issued_on, 10).isoformat(),
            },
        },
    )


def certificate_expiring(
    *,
    household_id: str = DEFAULT_HOUSEHOLD,
    id_number: str = DEFAULT_ID_NUMBER,
    district: str = "yongding",
    urban: bool = True,
    valid_until: date = date(2024, 5, 31),
    event_id: str | None = None,
    time: str = SAMPLE_TIME,
) -> dict[str, Any]:
    """disability.certificate.expiring: renewal reminder, three months ahead by default."""
    return _envelope(
        "disability.certificate.expiring",
        SOURCES["disability"],
        event_id,
        time,
        {
            "person": person(id_number),
            "household": household(household_id, district=district, urban=urban),
            "certificate": {
                "number": f"{id_number}{_grade_suffix('physical', 3)}",
                "valid_until": valid_until.isoformat(),
            },
        },
    )


def settlement_recorded(
    *,
    household_id: str = DEFAULT_HOUSEHOLD,
    id_number: str = DEFAULT_ID_NUMBER,
    district: str = "yongding",
    urban: bool = True,
    total_cost: Number = 48620.50,
    fund_paid: Number = 30112.30,
    out_of_pocket: Number = 18508.20,
    serious_illness: bool = True,
    event_id: str | None = None,
    time: str = SAMPLE_TIME,
) -> dict[str, Any]:
    """medical.settlement.recorded: a stay with 18,508.20 yuan out of pocket by default."""
    event_id = event_id if event_id is not None else str(uuid.uuid4())
    return _envelope(
        "medical.settlement.recorded",
        SOURCES["medical"],
        event_id,
        time,
        {
            "person": person(id_number),
            "household": household(household_id, district=district, urban=urban),
            "settlement": {
                "settlement_id": f"JS{_short(event_id)}",
                "hospital": "张家界市人民医院",
                "admitted_on": "2024-02-05",
                "discharged_on": "2024-02-23",
                "diagnosis": "C34.9 支气管和肺恶性肿瘤",
                "serious_illness": serious_illness,
                "total_cost": _number(total_cost),
                "fund_paid": _number(fund_paid),
                "out_of_pocket": _number(out_of_pocket),
            },
        },
    )


def household_listed(
    *,
    household_id: str = DEFAULT_HOUSEHOLD,
    id_number: str = DEFAULT_ID_NUMBER,
    district: str = "yongding",
    urban: bool = False,
    member_ids: tuple[str, ...] | None = None,
    per_capita_annual_income: Number = 5830,
    risk: str = "illness",
    event_id: str | None = None,
    time: str = SAMPLE_TIME,
) -> dict[str, Any]:
    """monitoring.household.listed: householder ``id_number`` plus ``member_ids`` (default: a
    spouse and a child, derived deterministically from the householder's number)."""
    others = member_ids if member_ids is not None else _family_of(id_number)
    relations = ("spouse", "child", "parent", "other")
    members = [
        {
            "id_number": id_number,
            "name": "张建国",
            "relation": "householder",
            "labor_capacity": "partial",
            "age": _age(id_number),
        }
    ]
    for index, member_id in enumerate(others):
        members.append(
            {
                "id_number": member_id,
                "name": f"家庭成员{index + 1}",
                "relation": relations[min(index, len(relations) - 1)],
                "labor_capacity": "full" if index == 0 else "none",
                "age": _age(member_id),
            }
        )
    return _envelope(
        "monitoring.household.listed",
        SOURCES["monitoring"],
        event_id,
        time,
        {
            "household": household(household_id, district=district, urban=urban),
            "members": members,
            "per_capita_annual_income": _number(per_capita_annual_income),
            "risk": risk,
        },
    )


def fact_reported(
    *,
    household_id: str = DEFAULT_HOUSEHOLD,
    id_number: str | None = DEFAULT_ID_NUMBER,
    district: str = "yongding",
    urban: bool = True,
    kind: str = "vehicle",
    amount: Number | None = None,
    count: int | None = 1,
    period: str | None = None,
    detail: Any = "小型轿车 湘G·A1234",
    event_id: str | None = None,
    time: str = SAMPLE_TIME,
) -> dict[str, Any]:
    """facts.household.reported: one registered car by default."""
    fact: dict[str, Any] = {"kind": kind}
    if amount is not None:
        fact["amount"] = _number(amount)
    if count is not None:
        fact["count"] = count
    if period is not None:
        fact["period"] = period
    if detail is not None:
        fact["detail"] = detail
    data: dict[str, Any] = {"household": household(household_id, district=district, urban=urban)}
    if id_number is not None:
        data["person"] = person(id_number)
    data["fact"] = fact
    return _envelope("facts.household.reported", SOURCES["facts"], event_id, time, data)


SAMPLE_BUILDERS: Final[Mapping[str, Callable[..., dict[str, Any]]]] = MappingProxyType(
    {
        "disability.certificate.issued": certificate_issued,
        "disability.certificate.expiring": certificate_expiring,
        "medical.settlement.recorded": settlement_recorded,
        "monitoring.household.listed": household_listed,
        "facts.household.reported": fact_reported,
    }
)
"""A builder per inbound type; all accept ``household_id``, ``id_number``, ``district``,
``urban``, ``event_id`` and ``time`` keywords."""


def sample_event(event_type: str, **kwargs: Any) -> dict[str, Any]:
    """A valid event of ``event_type`` (see :data:`SAMPLE_BUILDERS` for the keywords)."""
    return SAMPLE_BUILDERS[event_type](**kwargs)


def to_value(event: Mapping[str, Any]) -> bytes:
    """The Kafka message value an agency would send: compact UTF-8 JSON."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def to_value_with(event: dict[str, Any], path: str, value: Any) -> bytes:
    """:func:`to_value` of ``event`` with the member at the dotted ``path`` (e.g.
    ``data.settlement.hospital``) set to ``value``; ``event`` is changed in place."""
    node = event
    *parents, last = path.split(".")
    for name in parents:
        node = node[name]
    node[last] = value
    return to_value(event)


# ---------------------------------------------------------------------------------- helpers


def _envelope(
    event_type: str, source: str, event_id: str | None, time: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id if event_id is not None else str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": time,
        "datacontenttype": "application/json",
        "data": data,
    }


def _number(value: Number) -> int | float | str:
    """JSON number for an amount (as agencies send them); strings pass through unchanged."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _grade_suffix(category: str, grade: int) -> str:
    codes = {
        "visual": 1,
        "hearing": 2,
        "speech": 3,
        "physical": 4,
        "intellectual": 5,
        "mental": 6,
        "multiple": 7,
    }
    return f"{codes.get(category, 4)}{grade}"


def _plus_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _family_of(id_number: str) -> tuple[str, ...]:
    """A spouse and a child derived from the householder's number (stable across calls)."""
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
        area, sequence = id_number[:6], int(id_number[14:17])
        make_id_number(area, born, sequence)
    except ValueError:  # the householder's number is invalid on purpose
        born, area, sequence = date(1968, 4, 23), "430802", 31
    spouse = make_id_number(area, born + timedelta(days=700), (sequence + 1) % 1000)
    child_born = min(_plus_years(born, 26), date(2023, 6, 1))
    child = make_id_number(area, child_born, (sequence + 2) % 1000)
    return (spouse, child)


def _age(id_number: str, on: date = date(2024, 3, 1)) -> int:
    """Age on the sample date; 40 when the number carries no birth date (invalid on purpose)."""
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return 40
    return max(0, on.year - born.year - ((on.month, on.day) < (born.month, born.day)))


def _short(event_id: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, event_id).hex[:16].upper()

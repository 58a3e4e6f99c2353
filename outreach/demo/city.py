"""A synthetic city: households of Zhangjiajie's four districts and a month of their agency feeds.

Everything is drawn from one ``random.Random(seed)``: the same seed (and size, days and month)
gives the same households, the same events with the same ids and the same bytes; household and
event ids include all four, so two different cities never share an id, and the same city
published twice is only duplicates to ingest. Events are built with
:mod:`outreach.events.samples` (valid CloudEvents, valid GB 11643 ID numbers).

Proportions follow the seed article (``shared/seed/zhangjiajie-civil-affairs-2023.txt``), whose
most detailed figures are Yongding district's verified cases of 2023: 2,251 serious-illness
patients, 1,473 of them with hospital bills of 10,000 yuan or more out of pocket; 196 newly
severely disabled people; 55 monitoring households of 139 people, 29 of which were enrolled in
dibao or tekun. From these:

- opening triggers: hospital settlements 50 %, disability certificates 42 %, monitoring listings
  8 % (the seed's 55 listings would be 1 % of Yongding's triggers; raised so that a small demo
  city shows some);
- 65 % of settlements (1,473 of 2,251) reach the 10,000-yuan trigger; the rest are recorded and
  close at screening (nothing to check);
- a third of certificates are severe (grade 1-2, or grade 3 intellectual/mental);
- monitoring households have 2-3 members (139 people in 55 households);
- household facts (income, pension, cars, homes) for half of the households, a certificate
  renewal reminder for a few, a second hospital stay joining an open case for a few, and about
  one malformed message per 30 households (at least one each of: not JSON, bad ID check digit,
  unknown type, schema violation), which ingest must dead-letter.

Districts get households by approximate population share (2020 census, not in the seed):
Yongding 31 %, Wulingyuan 4 %, Cili 38 %, Sangzhi 27 %.

Who qualifies is the demo's choice, not the seed's (whose eligibility rates are a few percent
for hospital bills): about half of the monitoring households and a third to a half of the
others are poor enough, so that a small city shows every outcome. :class:`Household` holds what
a home visit would find; the simulated caseworkers report it (:mod:`outreach.demo.caseworkers`).
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from outreach.events import samples as s
from outreach.events.identity import check_digit, make_id_number
from outreach.events.registry import spec_for
from outreach.events.topics import DISABILITY_TOPIC, MEDICAL_TOPIC

__all__ = [
    "DEFAULT_MONTH",
    "DISTRICT_SHARES",
    "MALFORMED_KINDS",
    "City",
    "FeedMessage",
    "Household",
    "dibao_standard",
    "generate_city",
]

DISTRICT_SHARES: Final = {"yongding": 0.31, "wulingyuan": 0.04, "cili": 0.38, "sangzhi": 0.27}
OPENING_MIX: Final = {"settlement": 0.50, "certificate": 0.42, "monitoring": 0.08}
BIG_BILL_SHARE: Final = 1473 / 2251
SEVERE_SHARE: Final = 1 / 3
POOR_SHARE: Final = {"monitoring": 29 / 55, "settlement": 0.35, "certificate": 0.45}
MALFORMED_KINDS: Final = ("json", "id_number", "unknown_type", "schema")
DEFAULT_MONTH: Final = date(2024, 3, 1)
"""The simulated month (fixed, so a seed always gives the same events)."""

_NAMESPACE: Final = uuid.UUID("3b0c8f2e-9a41-5d6e-b7c3-1f2a4e5d6c70")
_SURNAMES: Final = "张王李刘陈杨赵黄周吴覃田向符卓谷龚彭朱胡"
_GIVEN: Final = (
    "建国 秀英 桂兰 志勇 海燕 红梅 德明 春花 永福 玉兰 小军 丽娟 明华 金秀 国庆 翠英 "
    "长生 美玲 文斌 素珍"
).split()
_STREETS: Final = {
    "yongding": ("永定区", "官黎坪街道", "解放路"),
    "wulingyuan": ("武陵源区", "军地坪街道", "沙坪路"),
    "cili": ("慈利县", "零阳街道", "建设路"),
    "sangzhi": ("桑植县", "澧源镇", "朝阳路"),
}
_HOSPITALS: Final = ("张家界市人民医院", "慈利县人民医院", "桑植县人民医院", "湘西北中心医院")
_DIAGNOSES: Final = (
    ("C34.9 支气管和肺恶性肿瘤", True),
    ("N18.5 慢性肾脏病5期", True),
    ("I63.9 脑梗死", True),
    ("S72.0 股骨颈骨折", False),
    ("J18.9 肺炎", False),
    ("K35.8 急性阑尾炎", False),
)
_CATEGORIES: Final = (
    "physical",
    "visual",
    "hearing",
    "speech",
    "intellectual",
    "mental",
    "multiple",
)
_RISKS: Final = ("illness", "disability", "disaster", "accident", "unemployment", "other")


def dibao_standard(district: str, urban: bool) -> Decimal:
    """The monthly dibao standard per person the demo's incomes are drawn against (2023 values
    from the seed: urban 650/month; rural 5,300/year in Yongding and Wulingyuan, else 5,000)."""
    if urban:
        return Decimal(650)
    yearly = Decimal(5300) if district in ("yongding", "wulingyuan") else Decimal(5000)
    return (yearly / 12).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Household:
    """A household of the city and what a home visit would find there."""

    index: int
    household_id: str
    id_number: str  # the householder's (or, for a certificate, the disabled person's)
    district: str
    urban: bool
    opening: str  # settlement / certificate / monitoring
    poor: bool
    size: int
    monthly_income_total: Decimal
    labor_capacity: tuple[str, ...]  # one of full/partial/none per member
    has_supporter: bool
    vehicles: int
    homes: int
    financial_assets: Decimal
    consent: bool
    found_on_attempt: int | None  # the visit attempt that finds someone home; None: never
    late: bool  # the caseworker's first visit comes only after the visit SLA
    objection: bool  # someone objects during the publicity period
    refuse_first_approval: bool  # the supervisor sends the first decision back

    def visit_notes(self) -> str:
        """Free text for the visit result (no names, ID numbers, phones or addresses)."""
        if self.poor:
            return f"家庭{self.size}口人 收入微薄 已核实住房与就业情况"
        return f"家庭{self.size}口人 有稳定收入"


@dataclass(frozen=True)
class FeedMessage:
    """One Kafka message of the month: published on ``day`` (0-based) to ``topic``."""

    day: int
    topic: str
    value: bytes
    kind: str  # the CloudEvents type, or "malformed:<kind>"
    household_id: str | None
    event_id: str

    @property
    def valid(self) -> bool:
        return not self.kind.startswith("malformed:")

    def document(self) -> dict[str, Any]:
        """The message as JSON (valid messages only)."""
        parsed: dict[str, Any] = json.loads(self.value)
        return parsed


@dataclass(frozen=True)
class City:
    seed: int
    month: date
    days: int
    households: tuple[Household, ...]
    messages: tuple[FeedMessage, ...]  # in publishing order (by day)

    def counts(self) -> dict[str, int]:
        """Messages per kind (CloudEvents type, or ``malformed:<kind>``)."""
        return dict(sorted(Counter(m.kind for m in self.messages).items()))

    @property
    def malformed(self) -> int:
        return sum(1 for m in self.messages if not m.valid)

    def by_household(self) -> dict[str, Household]:
        return {h.household_id: h for h in self.households}


def generate_city(
    seed: int = 7, households: int = 120, days: int = 30, month: date = DEFAULT_MONTH
) -> City:
    """The city for ``seed``: ``households`` households and ``days`` days of feeds."""
    if households < 1:
        raise ValueError("a city needs at least one household")
    if days < 1:
        raise ValueError("the feeds need at least one day")
    return _Generator(seed, households, days, month).city(households)


class _Generator:
    def __init__(self, seed: int, size: int, days: int, month: date) -> None:
        self.seed = seed
        self.size = size
        # a city is its seed, size, days and month: ids differ whenever one of them does
        self.key = f"{seed}/{size}/{days}/{month.isoformat()}"
        self.days = days
        self.month = month
        self.rng = random.Random(seed)
        self.messages: list[tuple[int, int, FeedMessage]] = []
        self.serial = 0
        self.broken = 0
        self.people = self.rng.sample(range(20_000), 20_000)  # distinct birth dates per index

    # -- ids and time ---------------------------------------------------------------------
    def event_id(self) -> str:
        self.serial += 1
        return str(uuid.uuid5(_NAMESPACE, f"{self.key}/{self.serial}"))

    def time(self, day: int) -> str:
        moment = self.month + timedelta(days=day)
        minutes = self.rng.randrange(8 * 60, 18 * 60)
        return f"{moment.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:00+08:00"

    def person_id(self, district: str) -> str:
        index = self.people.pop()
        born = date(1950, 1, 1) + timedelta(days=index)
        return make_id_number(s.AREA_CODES[district], born, self.seed % 1000)

    def add(self, day: int, event: dict[str, Any], household_id: str | None) -> None:
        spec = spec_for(event["type"])
        assert spec is not None
        self.push(day, spec.topic, s.to_value(event), event["type"], household_id, event["id"])

    def push(
        self, day: int, topic: str, value: bytes, kind: str, household: str | None, event_id: str
    ) -> None:
        message = FeedMessage(day, topic, value, kind, household, event_id)
        self.messages.append((day, len(self.messages), message))

    # -- the city ---------------------------------------------------------------------------
    def city(self, count: int) -> City:
        districts = self.rng.choices(
            list(DISTRICT_SHARES), weights=list(DISTRICT_SHARES.values()), k=count
        )
        made = [self.household(i + 1, district) for i, district in enumerate(districts)]
        for _ in range(max(len(MALFORMED_KINDS), count // 30)):
            self.malformed(made)
        ordered = tuple(m for _, _, m in sorted(self.messages, key=lambda t: (t[0], t[1])))
        return City(self.seed, self.month, self.days, tuple(made), ordered)

    def household(self, index: int, district: str) -> Household:
        rng = self.rng
        opening = rng.choices(list(OPENING_MIX), weights=list(OPENING_MIX.values()))[0]
        urban = False if opening == "monitoring" else rng.random() < 0.5
        area = s.AREA_CODES[district]
        household_id = f"HH-{area}-{self.seed:03d}{self.size:04d}{index:04d}"
        id_number = self.person_id(district)
        poor = rng.random() < POOR_SHARE[opening]
        size = rng.choice((1, 2, 3, 3, 4, 4, 5)) if opening != "monitoring" else rng.choice((2, 3))
        standard = dibao_standard(district, urban)
        per_person = standard * Decimal(
            str(rng.uniform(0.0, 0.8) if poor else rng.uniform(1.6, 3.5))
        )
        income = (per_person * size).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
        if poor:
            capacities = tuple(rng.choice(("none", "none", "partial", "full")) for _ in range(size))
        else:
            capacities = tuple(rng.choice(("full", "full", "partial")) for _ in range(size))
        alone = poor and size == 1 and rng.random() < 0.6
        found_draw = rng.random()
        household = Household(
            index=index,
            household_id=household_id,
            id_number=id_number,
            district=district,
            urban=urban,
            opening=opening,
            poor=poor,
            size=size,
            monthly_income_total=Decimal(0) if alone else income,
            labor_capacity=("none",) if alone else capacities,
            has_supporter=not alone,
            vehicles=0 if poor else int(rng.random() < 0.4),
            homes=1 if rng.random() < 0.9 else 0,
            financial_assets=Decimal(rng.randrange(0, 3000 if poor else 80_000, 100)),
            consent=rng.random() < 0.94,
            found_on_attempt=1 if found_draw < 0.82 else 2 if found_draw < 0.90 else None,
            late=rng.random() < 0.12,
            objection=rng.random() < 0.06,
            refuse_first_approval=rng.random() < 0.08,
        )
        day = rng.randrange(self.days)
        self.opening_event(household, day)
        self.extras(household, day)
        return household

    def base(self, h: Household, day: int) -> dict[str, Any]:
        return {
            "household_id": h.household_id,
            "id_number": h.id_number,
            "district": h.district,
            "urban": h.urban,
            "event_id": self.event_id(),
            "time": self.time(day),
        }

    def opening_event(self, h: Household, day: int) -> None:
        if h.opening == "settlement":
            self.add(day, self.settlement(h, day), h.household_id)
        elif h.opening == "certificate":
            severe = self.rng.random() < SEVERE_SHARE
            category = self.rng.choice(_CATEGORIES)
            grade = self.rng.choice((1, 2)) if severe else self.rng.choice((3, 4))
            event = s.certificate_issued(
                **self.base(h, day),
                category=category,
                grade=grade,
                issued_on=self.month + timedelta(days=max(0, day - self.rng.randrange(1, 8))),
            )
            self.add(day, self.personalised(event, h), h.household_id)
        else:
            members = tuple(self.person_id(h.district) for _ in range(h.size - 1))
            per_capita = (h.monthly_income_total * 12 / h.size).quantize(Decimal("0.01"))
            event = s.household_listed(
                **self.base(h, day),
                member_ids=members,
                per_capita_annual_income=per_capita,
                risk=self.rng.choice(_RISKS),
            )
            event["data"]["members"][0]["name"] = self.name()
            self.add(day, event, h.household_id)

    def settlement(self, h: Household, day: int) -> dict[str, Any]:
        rng = self.rng
        big = rng.random() < BIG_BILL_SHARE
        out_of_pocket = Decimal(
            rng.randrange(10_000, 160_000) if big else rng.randrange(800, 9_900)
        )
        out_of_pocket += Decimal(rng.randrange(100)) / 100
        fund_share = Decimal(str(round(rng.uniform(0.4, 0.75), 2)))
        total = (out_of_pocket / (1 - fund_share)).quantize(Decimal("0.01"))
        diagnosis, serious = rng.choice(_DIAGNOSES)
        event = s.settlement_recorded(
            **self.base(h, day),
            total_cost=total,
            fund_paid=total - out_of_pocket,
            out_of_pocket=out_of_pocket,
            serious_illness=serious,
        )
        settlement = event["data"]["settlement"]
        settlement["hospital"] = rng.choice(_HOSPITALS)
        settlement["diagnosis"] = diagnosis
        discharged = self.month + timedelta(days=max(0, day - rng.randrange(1, 5)))
        settlement["discharged_on"] = discharged.isoformat()
        settlement["admitted_on"] = (discharged - timedelta(days=rng.randrange(3, 30))).isoformat()
        return self.personalised(event, h)

    def extras(self, h: Household, day: int) -> None:
        rng = self.rng
        if rng.random() < 0.5:  # the data exchange reports what other agencies know
            fact_day = max(0, day - rng.randrange(0, 4))
            monthly = h.monthly_income_total
            if h.size > 1 and rng.random() < 0.3:
                pension = (monthly * Decimal("0.4")).quantize(Decimal("1"))
                self.fact(h, fact_day, "pension", amount=pension, period="month", detail="养老金")
                monthly -= pension
            self.fact(h, fact_day, "income", amount=monthly, period="month", detail="工资性收入")
            if h.vehicles:
                self.fact(h, fact_day, "vehicle", count=h.vehicles, detail="小型轿车")
            if h.homes and rng.random() < 0.5:
                self.fact(h, fact_day, "real_estate", count=h.homes, detail="住宅")
        if h.opening == "certificate" and rng.random() < 0.08:
            later = min(self.days - 1, day + rng.randrange(1, 10))
            event = s.certificate_expiring(
                **self.base(h, later),
                valid_until=self.month + timedelta(days=later + 90),
            )
            self.add(later, self.personalised(event, h), h.household_id)
        if h.opening == "settlement" and rng.random() < 0.06:
            later = min(self.days - 1, day + rng.randrange(1, 6))
            self.add(later, self.settlement(h, later), h.household_id)

    def fact(self, h: Household, day: int, kind: str, **fact: Any) -> None:
        event = s.fact_reported(
            **self.base(h, day), kind=kind, count=fact.pop("count", None), **fact
        )
        self.add(day, self.personalised(event, h), h.household_id)

    def name(self) -> str:
        return self.rng.choice(_SURNAMES) + self.rng.choice(_GIVEN)

    def personalised(self, event: dict[str, Any], h: Household) -> dict[str, Any]:
        """Give the event's person a name, phone and address of their own."""
        person = event["data"].get("person")
        if person is not None:
            county, township, street = _STREETS[h.district]
            person["name"] = self.name()
            person["phone"] = f"139{self.rng.randrange(10**8):08d}"
            person["address"] = f"张家界市{county}{township}{street}{self.rng.randrange(1, 200)}号"
        return event

    # -- malformed input -------------------------------------------------------------------
    def malformed(self, made: list[Household]) -> None:
        kind = MALFORMED_KINDS[self.broken % len(MALFORMED_KINDS)]
        self.broken += 1
        h = self.rng.choice(made)
        day = self.rng.randrange(self.days)
        if kind == "id_number":
            event = s.certificate_issued(**self.base(h, day))
            number = event["data"]["person"]["id_number"]
            wrong = "1" if check_digit(number[:17]) != "1" else "2"
            event["data"]["person"]["id_number"] = number[:17] + wrong
            topic = DISABILITY_TOPIC
        else:
            event = self.settlement(h, day)
            topic = MEDICAL_TOPIC
            if kind == "unknown_type":
                event["type"] = "medical.settlement.revised"
            elif kind == "schema":
                del event["data"]["settlement"]["out_of_pocket"]
        value = s.to_value(event)
        if kind == "json":
            text = value.decode()
            value = text[: len(text) // 2].encode()  # cut off mid-document
        self.push(day, topic, value, f"malformed:{kind}", h.household_id, event["id"])

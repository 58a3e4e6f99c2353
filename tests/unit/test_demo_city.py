"""The demo city's generator: reproducible, valid per the contract, malformed where intended,
and proportioned as its docstring says."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from outreach.demo.city import (
    DISTRICT_SHARES,
    MALFORMED_KINDS,
    dibao_standard,
    generate_city,
)
from outreach.demo.policy import DEMO_POLICY, write_demo_policy
from outreach.events import InvalidEvent, parse_inbound, validate_inbound
from outreach.events.identity import is_valid_id_number
from outreach.events.registry import spec_for
from outreach.policy.loader import load_policy


def test_the_same_seed_gives_the_same_events_and_ids() -> None:
    first, again = generate_city(seed=11, households=60), generate_city(seed=11, households=60)
    assert [m.value for m in first.messages] == [m.value for m in again.messages]
    assert [m.event_id for m in first.messages] == [m.event_id for m in again.messages]
    assert first.households == again.households


def test_another_seed_or_size_gives_another_city_with_no_shared_ids() -> None:
    city = generate_city(seed=11, households=60)
    for other in (generate_city(seed=12, households=60), generate_city(seed=11, households=61)):
        assert {m.event_id for m in city.messages}.isdisjoint(m.event_id for m in other.messages)
        assert {h.household_id for h in city.households}.isdisjoint(
            h.household_id for h in other.households
        )


def test_every_valid_message_passes_the_contract_on_its_topic() -> None:
    city = generate_city(seed=7, households=150)
    valid = [m for m in city.messages if m.valid]
    assert len(valid) > 150
    for message in valid:
        event = parse_inbound(message.value, message.topic)
        assert event.type == message.kind
        assert validate_inbound(message.document()).id == message.event_id
        spec = spec_for(message.kind)
        assert spec is not None and spec.topic == message.topic
    ids = [(m.document()["source"], m.event_id) for m in valid]
    assert len(set(ids)) == len(ids), "(source, id) must be unique per event"


def test_id_numbers_are_valid_and_households_distinct() -> None:
    city = generate_city(seed=3, households=200)
    assert all(is_valid_id_number(h.id_number) for h in city.households)
    assert len({h.household_id for h in city.households}) == 200
    assert len({h.id_number for h in city.households}) == 200


def test_the_malformed_messages_are_rejected_each_for_its_reason() -> None:
    city = generate_city(seed=7, households=120)
    malformed = [m for m in city.messages if not m.valid]
    assert {m.kind.removeprefix("malformed:") for m in malformed} == set(MALFORMED_KINDS)
    assert len(malformed) == city.malformed == 4
    reasons = {}
    for message in malformed:
        with pytest.raises(InvalidEvent) as caught:
            parse_inbound(message.value, message.topic)
        reasons[message.kind] = str(caught.value)
    assert "not valid JSON" in reasons["malformed:json"]
    assert "check digit" in reasons["malformed:id_number"]
    assert "unknown event type" in reasons["malformed:unknown_type"]
    assert "out_of_pocket" in reasons["malformed:schema"]


def test_a_bigger_city_has_more_malformed_messages() -> None:
    assert generate_city(seed=7, households=300).malformed == 10


def test_proportions_follow_the_design() -> None:
    city = generate_city(seed=5, households=2000, days=30)
    n = len(city.households)
    openings = Counter(h.opening for h in city.households)
    assert openings["settlement"] / n == pytest.approx(0.50, abs=0.04)
    assert openings["certificate"] / n == pytest.approx(0.42, abs=0.04)
    assert openings["monitoring"] / n == pytest.approx(0.08, abs=0.02)
    districts = Counter(h.district for h in city.households)
    for district, share in DISTRICT_SHARES.items():
        assert districts[district] / n == pytest.approx(share, abs=0.03)
    # 1,473 of Yongding's 2,251 serious-illness patients had 10,000 yuan or more out of pocket
    bills = [
        Decimal(str(m.document()["data"]["settlement"]["out_of_pocket"]))
        for m in city.messages
        if m.kind == "medical.settlement.recorded"
    ]
    assert sum(b >= 10_000 for b in bills) / len(bills) == pytest.approx(0.65, abs=0.05)
    # monitoring households: 2-3 members, rural
    listed = [m.document()["data"] for m in city.messages if m.kind.startswith("monitoring")]
    assert listed and all(2 <= len(d["members"]) <= 3 for d in listed)
    assert not any(d["household"]["urban"] for d in listed)
    # everything happens within the month, every day of it used
    assert {m.day for m in city.messages} == set(range(30))
    assert all(m.document()["time"].startswith("2024-03-") for m in city.messages if m.valid)


def test_poor_households_are_below_the_dibao_standard_and_the_others_well_above() -> None:
    city = generate_city(seed=9, households=400)
    for h in city.households:
        per_person = h.monthly_income_total / h.size
        standard = dibao_standard(h.district, h.urban)
        if h.poor:
            assert per_person < standard
        else:
            assert per_person > standard * Decimal("1.5")
        assert len(h.labor_capacity) == h.size
    reached = Counter(h.found_on_attempt for h in city.households)
    assert reached[1] > reached[2] > 0 and reached[None] > 0


def test_the_month_and_size_are_parameters() -> None:
    city = generate_city(seed=1, households=10, days=7, month=date(2025, 1, 1))
    assert len(city.households) == 10
    assert max(m.day for m in city.messages) < 7
    assert all(m.document()["time"].startswith("2025-01-0") for m in city.messages if m.valid)
    with pytest.raises(ValueError):
        generate_city(households=0)


def test_the_demo_policy_shortens_the_timers(tmp_path: Path) -> None:
    path = write_demo_policy(tmp_path / "demo")
    assert path.read_text(encoding="utf-8") == DEMO_POLICY
    durations = load_policy(path).durations_at(date(2024, 3, 1), "yongding")
    assert durations.publicity.total_seconds() == 5
    assert durations.visit_sla.total_seconds() == 20
    assert durations.reminder_interval.total_seconds() == 4
    assert durations.max_reminders == 2

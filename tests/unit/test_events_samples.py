"""The sample builders produce valid, distinct events for tests, benchmarks and the demo."""

from __future__ import annotations

import pytest

from outreach.events import MonitoringHouseholdListed, parse_inbound
from outreach.events import samples as s
from outreach.events.identity import is_valid_id_number
from outreach.events.registry import REGISTRY


def test_id_numbers_are_valid_and_distinct() -> None:
    indices = [*range(0, 2000), *range(0, 20_000_000, 99_991), 19_999_999]
    numbers = [s.id_number_for(i) for i in indices]
    assert all(is_valid_id_number(n) for n in numbers)
    assert len(set(numbers)) == len(set(indices))
    assert s.id_number_for(3, district="cili").startswith("430821")
    with pytest.raises(ValueError):
        s.id_number_for(20_000_000)


@pytest.mark.parametrize("event_type", list(REGISTRY))
@pytest.mark.parametrize("index", [0, 1, 7_654_321, 19_999_999])
def test_every_builder_gives_a_valid_event(event_type: str, index: int) -> None:
    event = s.sample_event(
        event_type,
        household_id=s.household_id_for(index),
        id_number=s.id_number_for(index),
        district="sangzhi",
        urban=False,
    )
    parsed = parse_inbound(s.to_value(event), REGISTRY[event_type].topic)
    assert parsed.household_id == s.household_id_for(index)
    assert parsed.district == "sangzhi"
    assert parsed.household.urban is False


def test_default_event_ids_are_unique_and_can_be_fixed() -> None:
    assert s.certificate_issued()["id"] != s.certificate_issued()["id"]
    assert s.certificate_issued(event_id="x")["id"] == "x"


def test_monitoring_family_is_deterministic_and_valid() -> None:
    one = s.household_listed(id_number=s.id_number_for(5))
    two = s.household_listed(id_number=s.id_number_for(5))
    assert one["data"]["members"] == two["data"]["members"]
    parsed = parse_inbound(s.to_value(one), REGISTRY["monitoring.household.listed"].topic)
    assert isinstance(parsed, MonitoringHouseholdListed)
    assert len(parsed.id_numbers) == 3

"""Registry, schema versions and upcasting."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from outreach.events import InvalidEvent, MedicalSettlementRecorded, parse_inbound
from outreach.events import samples as s
from outreach.events.feeds import DisabilityCertificateIssued
from outreach.events.registry import (
    REGISTRY,
    EventSpec,
    SchemaVersionError,
    declared_version,
    spec_for,
    types_on_topic,
)
from outreach.events.topics import (
    DISABILITY_TOPIC,
    FACTS_TOPIC,
    INBOUND_TOPICS,
    MEDICAL_TOPIC,
    MONITORING_TOPIC,
)


def v0_settlement(**attributes: Any) -> dict[str, Any]:
    """A medical.settlement.recorded event in the v0 shape: ``self_paid``, no ``out_of_pocket``."""
    event = s.settlement_recorded(event_id="v0-1", out_of_pocket=18508.20)
    money = event["data"]["settlement"]
    money["self_paid"] = money.pop("out_of_pocket")
    event.update(attributes)
    return event


def test_registry_covers_the_contract() -> None:
    assert set(REGISTRY) == {
        "disability.certificate.issued",
        "disability.certificate.expiring",
        "medical.settlement.recorded",
        "monitoring.household.listed",
        "facts.household.reported",
    }
    assert set(REGISTRY) == set(s.SAMPLE_BUILDERS)
    assert all(spec.version == 1 for spec in REGISTRY.values())
    assert {spec.topic for spec in REGISTRY.values()} == set(INBOUND_TOPICS)
    assert types_on_topic(DISABILITY_TOPIC) == (
        "disability.certificate.issued",
        "disability.certificate.expiring",
    )
    assert types_on_topic(MONITORING_TOPIC) == ("monitoring.household.listed",)
    assert types_on_topic(FACTS_TOPIC) == ("facts.household.reported",)
    assert types_on_topic("outreach.cases") == ()
    assert spec_for("nope") is None


def test_spec_rejects_gaps_in_upcasters_and_mismatched_models() -> None:
    with pytest.raises(ValueError, match="upcasters must cover"):
        EventSpec(
            "disability.certificate.issued",
            DisabilityCertificateIssued,
            DISABILITY_TOPIC,
            version=3,
            upcasters={0: dict, 2: dict},
        )
    with pytest.raises(ValueError, match="is for another type"):
        EventSpec("medical.settlement.recorded", DisabilityCertificateIssued, MEDICAL_TOPIC)


@pytest.mark.parametrize(
    ("attributes", "version"),
    [
        ({}, None),
        ({"schemaversion": 1}, 1),
        ({"schemaversion": "1"}, 1),
        ({"dataschema": "https://schemas.example.gov.cn/medical.settlement.recorded/v1"}, 1),
        ({"dataschema": "https://schemas.example.gov.cn/medical/v0/"}, 0),
        ({"dataschema": "urn:medical-settlement"}, None),
        ({"schemaversion": 1, "dataschema": "https://x/v0"}, 1),
    ],
)
def test_declared_version(attributes: dict[str, Any], version: int | None) -> None:
    assert declared_version(attributes) == version


@pytest.mark.parametrize("bad", [True, -1, "v1", 1.5, "", [1]])
def test_malformed_schemaversion(bad: Any) -> None:
    with pytest.raises(SchemaVersionError, match="schemaversion must be a non-negative integer"):
        declared_version({"schemaversion": bad})


def test_current_version_stated_explicitly_parses() -> None:
    event = s.settlement_recorded(event_id="v1")
    event["schemaversion"] = 1
    parsed = parse_inbound(s.to_value(event), MEDICAL_TOPIC)
    assert parsed.schemaversion == 1
    assert parsed.to_json_dict()["schemaversion"] == 1


def test_v0_settlement_is_upcast_to_v1() -> None:
    raw = v0_settlement(schemaversion=0)
    before = copy.deepcopy(raw)
    event = parse_inbound(s.to_value(raw), MEDICAL_TOPIC)
    assert isinstance(event, MedicalSettlementRecorded)
    assert event.data.settlement.out_of_pocket == Decimal("18508.2")
    assert event.schemaversion == 1
    dumped = event.to_json_dict()
    assert "self_paid" not in dumped["data"]["settlement"]
    assert dumped["schemaversion"] == 1
    # Re-parsing the stored form does not upcast twice.
    assert parse_inbound(s.to_value(dumped), MEDICAL_TOPIC) == event
    assert raw == before  # the upcaster did not touch its input


def test_v0_stated_by_dataschema_is_upcast() -> None:
    raw = v0_settlement(dataschema="https://schemas.example.gov.cn/medical.settlement.recorded/v0")
    event = parse_inbound(s.to_value(raw), MEDICAL_TOPIC)
    assert isinstance(event, MedicalSettlementRecorded)
    assert event.data.settlement.out_of_pocket == Decimal("18508.2")
    assert parse_inbound(s.to_value(event.to_json_dict()), MEDICAL_TOPIC) == event


def test_v0_with_both_names_keeps_out_of_pocket() -> None:
    raw = v0_settlement(schemaversion=0)
    raw["data"]["settlement"]["out_of_pocket"] = 17000
    event = parse_inbound(s.to_value(raw), MEDICAL_TOPIC)
    assert isinstance(event, MedicalSettlementRecorded)
    assert event.data.settlement.out_of_pocket == Decimal(17000)
    assert "self_paid" not in event.to_json_dict()["data"]["settlement"]


def test_v0_shape_without_version_is_a_schema_failure() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(s.to_value(v0_settlement()), MEDICAL_TOPIC)
    assert caught.value.kind == "schema"
    assert caught.value.reason == "data.settlement.out_of_pocket: is required"


def test_future_version_is_rejected() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(s.to_value(v0_settlement(schemaversion=2)), MEDICAL_TOPIC)
    assert caught.value.kind == "schema"
    assert caught.value.reason == (
        "schema version 2 of medical.settlement.recorded is newer than the supported version 1"
    )


def test_version_older_than_any_upcaster_is_rejected() -> None:
    event = s.certificate_issued()
    event["schemaversion"] = 0
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(s.to_value(event), DISABILITY_TOPIC)
    assert caught.value.reason == (
        "schema version 0 of disability.certificate.issued is no longer supported "
        "(oldest supported: 1)"
    )


def test_upcasting_data_that_is_not_an_object() -> None:
    raw = v0_settlement(schemaversion=0)
    raw["data"] = "oops"
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(s.to_value(raw), MEDICAL_TOPIC)
    assert (caught.value.kind, caught.value.reason) == ("schema", "data: must be a JSON object")


def test_malformed_schemaversion_is_a_schema_failure() -> None:
    event = s.settlement_recorded()
    event["schemaversion"] = "latest"
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(s.to_value(event), MEDICAL_TOPIC)
    assert caught.value.kind == "schema"
    assert caught.value.reason == "schemaversion must be a non-negative integer, got 'latest'"

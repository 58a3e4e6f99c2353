"""parse_inbound: every inbound type, every kind of invalid input, extras kept, idempotency."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from outreach.events import (
    CaseEffect,
    DisabilityCertificateExpiring,
    DisabilityCertificateIssued,
    FactsHouseholdReported,
    InboundEvent,
    InvalidEvent,
    MedicalSettlementRecorded,
    MonitoringHouseholdListed,
    event_uuid,
    parse_inbound,
    validate_inbound,
)
from outreach.events import samples as s
from outreach.events.identity import LEGACY_REASON, make_id_number
from outreach.events.registry import REGISTRY
from outreach.events.topics import (
    DISABILITY_TOPIC,
    FACTS_TOPIC,
    MEDICAL_TOPIC,
    MONITORING_TOPIC,
)

HOUSEHOLD = s.household_id_for(42)
ID = s.id_number_for(42)

EXPECTED = [
    ("disability.certificate.issued", DisabilityCertificateIssued, DISABILITY_TOPIC, True),
    ("disability.certificate.expiring", DisabilityCertificateExpiring, DISABILITY_TOPIC, False),
    ("medical.settlement.recorded", MedicalSettlementRecorded, MEDICAL_TOPIC, True),
    ("monitoring.household.listed", MonitoringHouseholdListed, MONITORING_TOPIC, True),
    ("facts.household.reported", FactsHouseholdReported, FACTS_TOPIC, False),
]


def value(event: dict[str, Any]) -> bytes:
    return s.to_value(event)


def settlement(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("household_id", HOUSEHOLD)
    kwargs.setdefault("id_number", ID)
    return s.settlement_recorded(**kwargs)


def invalid(raw: bytes | dict[str, Any], topic: str = MEDICAL_TOPIC) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_inbound(raw if isinstance(raw, bytes) else value(raw), topic)
    return caught.value


# ------------------------------------------------------------------------------- valid events


@pytest.mark.parametrize(("event_type", "model", "topic", "opens"), EXPECTED)
def test_each_type_parses_on_its_topic(
    event_type: str, model: type[InboundEvent], topic: str, opens: bool
) -> None:
    raw = value(s.sample_event(event_type, household_id=HOUSEHOLD, id_number=ID, event_id="e-1"))
    event = parse_inbound(raw, topic)
    assert type(event) is model
    assert event.type == event_type
    assert event.household_id == HOUSEHOLD
    assert event.district == "yongding"
    assert event.opens_case is opens
    assert ID in event.id_numbers
    assert REGISTRY[event_type].topic == topic


def test_case_effects_per_type() -> None:
    assert DisabilityCertificateIssued.case_effect is CaseEffect.OPENS
    assert MedicalSettlementRecorded.case_effect is CaseEffect.OPENS
    assert MonitoringHouseholdListed.case_effect is CaseEffect.OPENS
    assert DisabilityCertificateExpiring.case_effect is CaseEffect.JOINS_OPEN
    assert FactsHouseholdReported.case_effect is CaseEffect.NONE


def test_amounts_are_exact_decimals() -> None:
    event = parse_inbound(value(settlement(out_of_pocket=18508.2)), MEDICAL_TOPIC)
    assert isinstance(event, MedicalSettlementRecorded)
    money = event.data.settlement
    assert money.out_of_pocket == Decimal("18508.2")
    assert money.total_cost == Decimal("48620.5")
    assert money.fund_paid == Decimal("30112.3")
    as_strings = settlement(total_cost="48620.50", fund_paid="30112.30", out_of_pocket="18508.20")
    event = parse_inbound(value(as_strings), MEDICAL_TOPIC)
    assert isinstance(event, MedicalSettlementRecorded)
    assert event.data.settlement.out_of_pocket == Decimal("18508.20")
    listed = parse_inbound(
        value(s.household_listed(per_capita_annual_income=5830.75)), MONITORING_TOPIC
    )
    assert isinstance(listed, MonitoringHouseholdListed)
    assert listed.data.per_capita_annual_income == Decimal("5830.75")
    fact = parse_inbound(
        value(s.fact_reported(kind="income", amount=3200.5, count=None)), FACTS_TOPIC
    )
    assert isinstance(fact, FactsHouseholdReported)
    assert fact.data.fact.amount == Decimal("3200.5")


def test_district_is_normalised_and_types_are_typed() -> None:
    event = parse_inbound(value(s.certificate_issued(district="  WuLingYuan ")), DISABILITY_TOPIC)
    assert isinstance(event, DisabilityCertificateIssued)
    assert event.district == "wulingyuan"
    assert event.data.certificate.grade == 2
    assert event.data.certificate.category == "physical"
    assert event.time.utcoffset() is not None
    assert event.time.isoformat() == "2024-03-01T09:30:00+08:00"


def test_x_check_digit_and_lowercase_x() -> None:
    with_x = make_id_number("430802", date(1975, 9, 12), 8)
    assert with_x.endswith("X")
    event = parse_inbound(value(s.certificate_issued(id_number=with_x.lower())), DISABILITY_TOPIC)
    assert isinstance(event, DisabilityCertificateIssued)
    assert event.data.person.id_number == with_x


def test_facts_without_person_and_with_object_detail() -> None:
    raw = s.fact_reported(id_number=None, kind="real_estate", detail={"area_m2": 96.5}, count=2)
    event = parse_inbound(value(raw), FACTS_TOPIC)
    assert isinstance(event, FactsHouseholdReported)
    assert event.data.person is None
    assert event.id_numbers == ()
    assert event.data.fact.detail == {"area_m2": 96.5}
    assert event.opens_case is False


def test_events_are_immutable() -> None:
    event = parse_inbound(value(settlement()), MEDICAL_TOPIC)
    with pytest.raises(ValidationError):
        event.id = "other"  # type: ignore[misc]


# ---------------------------------------------------------------------- extras and round trip


def with_extras() -> dict[str, Any]:
    event = settlement(event_id="s-1")
    event["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    event["partitionkey"] = HOUSEHOLD
    event["data"]["batch"] = {"exported_at": "2024-03-01", "rows": 1200}
    event["data"]["person"]["ethnicity"] = "土家族"
    event["data"]["household"]["village"] = "沅古坪村"
    event["data"]["settlement"]["insurance_type"] = "城乡居民医保"
    event["data"]["settlement"]["ratio"] = 0.62
    return event


def test_unknown_extra_fields_are_kept_everywhere() -> None:
    event = parse_inbound(value(with_extras()), MEDICAL_TOPIC)
    assert isinstance(event, MedicalSettlementRecorded)
    assert event.extensions["traceparent"].startswith("00-4bf9")
    out = event.to_json_dict()
    assert out["traceparent"] == with_extras()["traceparent"]
    assert out["partitionkey"] == HOUSEHOLD
    assert out["data"]["batch"] == {"exported_at": "2024-03-01", "rows": 1200}
    assert out["data"]["person"]["ethnicity"] == "土家族"
    assert out["data"]["household"]["village"] == "沅古坪村"
    assert out["data"]["settlement"]["insurance_type"] == "城乡居民医保"
    assert out["data"]["settlement"]["ratio"] == 0.62


def test_extras_cannot_shadow_attributes() -> None:
    event = settlement(event_id="shadow")
    event["household_id"] = "spoofed"
    event["model_dump"] = 1
    event["_private"] = 2
    parsed = parse_inbound(value(event), MEDICAL_TOPIC)
    assert parsed.household_id == HOUSEHOLD
    out = parsed.to_json_dict()
    assert (out["household_id"], out["model_dump"], out["_private"]) == ("spoofed", 1, 2)


@pytest.mark.parametrize("event_type", list(REGISTRY))
def test_to_json_dict_round_trips(event_type: str) -> None:
    original = s.sample_event(event_type, household_id=HOUSEHOLD, id_number=ID, event_id="rt")
    original["comexampleext"] = "kept"
    topic = REGISTRY[event_type].topic
    first = parse_inbound(value(original), topic)
    dumped = first.to_json_dict()
    again = parse_inbound(json.dumps(dumped).encode(), topic)
    assert again == first
    assert again.to_json_dict() == dumped
    # Absent optional attributes stay absent; nothing is invented.
    assert "subject" not in dumped and "schemaversion" not in dumped


def test_amounts_serialise_as_exact_decimal_strings() -> None:
    event = parse_inbound(value(settlement(out_of_pocket=Decimal("18508.20"))), MEDICAL_TOPIC)
    dumped = event.to_json_dict()["data"]["settlement"]
    assert dumped["out_of_pocket"] == "18508.2"
    assert dumped["admitted_on"] == "2024-02-05"


def test_validate_inbound_accepts_a_decoded_document_without_topic() -> None:
    document = settlement(event_id="stored")
    event = validate_inbound(document)
    assert isinstance(event, MedicalSettlementRecorded)
    assert validate_inbound(event.to_json_dict()) == event


# ----------------------------------------------------------------------------- idempotency


def test_idempotency_key_is_source_and_id_only() -> None:
    first = parse_inbound(value(settlement(event_id="JS-2024-000187")), MEDICAL_TOPIC)
    redelivered = settlement(event_id="JS-2024-000187", out_of_pocket=1)
    redelivered["time"] = "2024-03-02T10:00:00+08:00"
    second = parse_inbound(value(redelivered), MEDICAL_TOPIC)
    assert first.idempotency_key == second.idempotency_key
    assert first.event_uuid == second.event_uuid
    assert first.idempotency_key == f"{s.SOURCES['medical']}\nJS-2024-000187"

    other = settlement(event_id="JS-2024-000187")
    other["source"] = "/agencies/medical-insurance/hunan"
    third = parse_inbound(value(other), MEDICAL_TOPIC)
    assert third.idempotency_key != first.idempotency_key
    assert third.event_uuid != first.event_uuid


def test_event_uuid_is_deterministic_and_pinned() -> None:
    got = event_uuid("/agencies/medical-insurance/zhangjiajie", "JS-2024-000187")
    assert got.version == 5
    assert got == event_uuid("/agencies/medical-insurance/zhangjiajie", "JS-2024-000187")
    # Pinned: stored event ids derive from the namespace; changing it would break dedupe.
    assert str(got) == str(
        uuid.uuid5(
            uuid.UUID("5b0f7c1e-8a43-5d2e-9c61-0e6a3f1d2b74"),
            "/agencies/medical-insurance/zhangjiajie\nJS-2024-000187",
        )
    )


def test_control_characters_in_id_or_source_are_rejected() -> None:
    event = settlement(event_id="a\nb")
    error = invalid(event)
    assert error.kind == "schema"
    assert error.reason == "id: must not contain control characters"


# --------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "the message is not valid JSON: Expecting property name enclosed in"),
        (b"", "the message is empty"),
        (b"   ", "the message is empty"),
        (b"\xff\xfe{}", "the message is not valid UTF-8 (byte 0)"),
        (b'{"amount": NaN}', "the message is not valid JSON: NaN is not a JSON number"),
    ],
)
def test_not_json(raw: bytes, reason: str) -> None:
    error = invalid(raw)
    assert error.kind == "json"
    assert error.reason.startswith(reason)


def test_json_that_is_not_an_object() -> None:
    error = invalid(b"[1, 2]")
    assert (error.kind, error.reason) == (
        "schema",
        "the message must be a JSON object (a CloudEvent), got an array",
    )


def test_unknown_type() -> None:
    event = settlement()
    event["type"] = "medical.settlement.cancelled"
    error = invalid(event)
    assert error.kind == "unknown_type"
    assert error.reason.startswith("unknown event type 'medical.settlement.cancelled'; known")
    assert error.event_type == "medical.settlement.cancelled"
    assert error.source == s.SOURCES["medical"]


def test_unknown_type_with_a_broken_envelope_reports_the_envelope() -> None:
    event = settlement()
    event["type"] = "something.else"
    del event["specversion"]
    error = invalid(event)
    assert (error.kind, error.reason) == ("schema", "specversion: is required")


def test_missing_type_is_a_schema_failure() -> None:
    event = settlement()
    del event["type"]
    error = invalid(event)
    assert (error.kind, error.reason) == ("schema", "type: is required")


def test_wrong_topic() -> None:
    error = invalid(settlement(), topic=DISABILITY_TOPIC)
    assert error.kind == "topic"
    assert error.reason == (
        "medical.settlement.recorded events belong on agency.medical.settlements, "
        "not on agency.disability.certificates"
    )


def mutate(event: dict[str, Any], path: str, new: Any) -> dict[str, Any]:
    """Set (or delete, when ``new`` is DELETE) the field at a dotted path."""
    event = copy.deepcopy(event)
    *parents, last = path.split(".")
    target: Any = event
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if new is DELETE:
        del target[last]
    else:
        target[last] = new
    return event


DELETE = object()


@pytest.mark.parametrize(
    ("path", "new", "reason"),
    [
        ("specversion", "0.3", "specversion: Input should be '1.0'"),
        ("specversion", 1.0, "specversion: Input should be '1.0'"),
        ("id", "", "id: must not be empty"),
        ("source", DELETE, "source: is required"),
        ("time", "2024-03-01T09:30:00", "time: must be an RFC 3339 timestamp with a time zone"),
        ("time", "2024-03-01", "time: must be an RFC 3339 timestamp with a time zone"),
        ("time", 1709256600, "time: must be an RFC 3339 timestamp string, got int"),
        ("time", "2024-02-30T09:30:00+08:00", "time: "),
        ("data", DELETE, "data: is required"),
        ("data", [], "data: must be a JSON object"),
        ("datacontenttype", "application/xml", "datacontenttype must be a JSON media type"),
        ("data_base64", "e30=", "data_base64 is not supported"),
        ("data.person", DELETE, "data.person: is required"),
        ("data.person.name", " ", "data.person.name: must not be empty"),
        ("data.household.household_id", "", "data.household.household_id: must not be empty"),
        ("data.household.district", "  ", "data.household.district: must not be empty"),
        ("data.household.urban", "yes", "data.household.urban: must be true or false"),
        ("data.household.urban", 1, "data.household.urban: must be true or false"),
        ("data.settlement.serious_illness", "true", "data.settlement.serious_illness: must be"),
        ("data.settlement.total_cost", -1, "data.settlement.total_cost: must not be negative"),
        ("data.settlement.fund_paid", "abc", "data.settlement.fund_paid: must be a number"),
        ("data.settlement.fund_paid", True, "data.settlement.fund_paid: must be a number"),
        (
            "data.settlement.admitted_on",
            "05/02/2024",
            "data.settlement.admitted_on: must be a date",
        ),
        (
            "data.settlement.out_of_pocket",
            60000,
            "data.settlement: out_of_pocket (60000) exceeds total_cost (48620.5)",
        ),
        (
            "data.settlement.discharged_on",
            "2024-02-01",
            "data.settlement: discharged_on (2024-02-01) is before admitted_on (2024-02-05)",
        ),
    ],
)
def test_schema_failures_have_readable_reasons(path: str, new: Any, reason: str) -> None:
    error = invalid(mutate(settlement(event_id="bad"), path, new))
    assert error.kind == "schema"
    assert error.reason.startswith(reason), error.reason
    assert error.event_id == "bad" or path == "id"


@pytest.mark.parametrize(
    ("builder", "topic", "path", "new", "reason"),
    [
        (
            s.certificate_issued,
            DISABILITY_TOPIC,
            "data.certificate.grade",
            5,
            "data.certificate.grade: Input should be less than or equal to 4",
        ),
        (
            s.certificate_issued,
            DISABILITY_TOPIC,
            "data.certificate.grade",
            0,
            "data.certificate.grade: Input should be greater than or equal to 1",
        ),
        (
            s.certificate_issued,
            DISABILITY_TOPIC,
            "data.certificate.category",
            "blind",
            "data.certificate.category: Input should be 'physical', 'visual'",
        ),
        (
            s.certificate_issued,
            DISABILITY_TOPIC,
            "data.certificate.valid_until",
            "2020-01-01",
            "data.certificate: valid_until (2020-01-01) is before issued_on (2024-02-26)",
        ),
        (
            s.certificate_expiring,
            DISABILITY_TOPIC,
            "data.certificate.valid_until",
            DELETE,
            "data.certificate.valid_until: is required",
        ),
        (
            s.household_listed,
            MONITORING_TOPIC,
            "data.members",
            [],
            "data.members: List should have at least 1 item",
        ),
        (
            s.household_listed,
            MONITORING_TOPIC,
            "data.members.1.labor_capacity",
            "some",
            "data.members[1].labor_capacity: Input should be 'full', 'partial' or 'none'",
        ),
        (
            s.household_listed,
            MONITORING_TOPIC,
            "data.members.0.age",
            151,
            "data.members[0].age: Input should be less than or equal to 150",
        ),
        (
            s.household_listed,
            MONITORING_TOPIC,
            "data.risk",
            "poverty",
            "data.risk: Input should be 'illness', 'disability', 'disaster'",
        ),
        (
            s.household_listed,
            MONITORING_TOPIC,
            "data.per_capita_annual_income",
            -5,
            "data.per_capita_annual_income: must not be negative",
        ),
        (
            s.fact_reported,
            FACTS_TOPIC,
            "data.fact.kind",
            "boat",
            "data.fact.kind: Input should be 'income', 'real_estate'",
        ),
        (
            s.fact_reported,
            FACTS_TOPIC,
            "data.fact.amount",
            -100,
            "data.fact.amount: must not be negative",
        ),
        (
            s.fact_reported,
            FACTS_TOPIC,
            "data.fact.count",
            -1,
            "data.fact.count: Input should be greater than or equal to 0",
        ),
    ],
)
def test_type_specific_schema_failures(
    builder: Any, topic: str, path: str, new: Any, reason: str
) -> None:
    error = invalid(mutate(builder(), path, new), topic)
    assert error.kind == "schema"
    assert error.reason.startswith(reason), error.reason


def test_duplicate_members_are_rejected() -> None:
    event = s.household_listed(member_ids=(ID, ID))
    error = invalid(event, MONITORING_TOPIC)
    assert error.reason == "data: members[2] repeats the ID number of an earlier member"


# ------------------------------------------------------------------------------ ID numbers


def test_bad_check_digit_is_an_id_number_failure() -> None:
    wrong = ID[:17] + ("3" if ID[17] != "3" else "4")
    error = invalid(settlement(id_number=wrong))
    assert error.kind == "id_number"
    assert error.reason == f"data.person.id_number: check digit should be {ID[17]}, got {wrong[17]}"
    assert wrong not in error.reason


def test_legacy_id_in_a_member_is_rejected_with_reason() -> None:
    legacy = "430802680423031"
    event = s.household_listed(member_ids=(legacy,))
    error = invalid(event, MONITORING_TOPIC)
    assert error.kind == "id_number"
    assert error.reason == f"data.members[1].id_number: {LEGACY_REASON}"


def test_id_failures_come_first_and_long_lists_are_cut() -> None:
    event = settlement(id_number=ID[:17])
    event = mutate(event, "data.settlement.total_cost", -1)
    event = mutate(event, "data.settlement.fund_paid", -1)
    event = mutate(event, "data.settlement.hospital", "")
    event = mutate(event, "data.household.urban", "no")
    error = invalid(event)
    assert error.kind == "id_number"
    assert error.reason.startswith(
        "data.person.id_number: ID number must have 18 characters, got 17; "
    )
    assert error.reason.endswith("; and 2 more problems")


def test_id_number_as_a_number_is_an_id_failure() -> None:
    event = mutate(settlement(), "data.person.id_number", 430802196804230316)
    error = invalid(event)
    assert error.kind == "id_number"
    assert error.reason == (
        "data.person.id_number: ID number must be a string of 18 characters, got int"
    )


def test_fact_person_id_is_validated_too() -> None:
    error = invalid(s.fact_reported(id_number="430802680423031"), FACTS_TOPIC)
    assert (error.kind, error.reason) == ("id_number", f"data.person.id_number: {LEGACY_REASON}")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b'{"a": 1e400}',
        b'{"a": "\\ud800"}',
        b'{"a": 1} trailing',
        b"\xef\xbb\xbf{}",
        b"[1,]",
        b'{"a": "tab\there"}',
        b"1" * 5000,
        b"[" * 3000 + b"]" * 3000,
    ],
)
def test_bytes_and_text_are_judged_alike(raw: bytes) -> None:
    """Bytes take a faster JSON parser; whatever it refuses goes the way text does, so every
    input gets the same event or the same dead-letter reason either way."""
    outcomes = []
    for value in (raw, raw.decode("utf-8"), bytearray(raw), memoryview(raw)):
        try:
            outcomes.append(("event", parse_inbound(value, FACTS_TOPIC)))
        except InvalidEvent as exc:
            outcomes.append((exc.kind, exc.reason))
    assert all(o == outcomes[0] for o in outcomes), outcomes


def test_bytes_and_text_give_equal_events_for_every_sample() -> None:
    for event_type, build in s.SAMPLE_BUILDERS.items():
        event = build(household_id=HOUSEHOLD, id_number=ID)
        event["ext"] = {"n": 1.25, "big": 10**30, "s": "官黎坪\u2028", "l": [None, True]}
        raw = s.to_value(event)
        topic = REGISTRY[event_type].topic
        from_bytes, from_text = parse_inbound(raw, topic), parse_inbound(raw.decode(), topic)
        assert from_bytes == from_text
        assert from_bytes.to_json_dict() == from_text.to_json_dict()
        assert from_bytes.extensions == from_text.extensions == {"ext": event["ext"]}

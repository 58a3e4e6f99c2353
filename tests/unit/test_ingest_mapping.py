"""What ingest hands on: triggers for cases (no personal data), event-store records (personal
fields split off for encryption), and the AsyncAPI document (checked in, kept current)."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

import pytest

from outreach.events import InboundEvent, parse_inbound, samples
from outreach.events.registry import REGISTRY
from outreach.events.topics import DEADLETTER_TOPIC, INBOUND_TOPICS
from outreach.ingest.app import asyncapi_document, asyncapi_json
from outreach.ingest.storage import PERSONAL_PATHS, new_event_for
from outreach.ingest.triggers import case_id_for, case_start_for, trigger_for
from outreach.workflows.case_contract import case_id_for_trigger, case_workflow_id

ROOT = Path(__file__).resolve().parents[2]
HOUSEHOLD, ID_NUMBER = "HH-430802-000077", samples.id_number_for(77)


def parsed(event_type: str, **kwargs: object) -> InboundEvent:
    event = samples.sample_event(event_type, household_id=HOUSEHOLD, id_number=ID_NUMBER, **kwargs)
    return parse_inbound(samples.to_value(event), REGISTRY[event_type].topic)


@pytest.mark.parametrize("event_type", list(REGISTRY))
def test_a_trigger_carries_no_personal_data(event_type: str) -> None:
    event = parsed(event_type)
    trigger = trigger_for(event, "stream-key")
    if event_type == "facts.household.reported":
        assert trigger is None
        return
    assert trigger is not None
    text = json.dumps(asdict(trigger), default=str, ensure_ascii=False)
    for secret in (HOUSEHOLD, ID_NUMBER, "张建国", "13907441234", "解放路"):
        assert secret not in text
    assert trigger.event_id == str(event.event_uuid)
    assert (trigger.household_key, trigger.district, trigger.urban) == (
        "stream-key",
        "yongding",
        event.household.urban,
    )


def test_each_trigger_carries_the_facts_screening_needs() -> None:
    issued = trigger_for(parsed("disability.certificate.issued", grade=1), "k")
    assert issued is not None
    assert (issued.certificate_category, issued.certificate_grade) == ("physical", 1)
    bill = trigger_for(parsed("medical.settlement.recorded"), "k")
    assert bill is not None
    assert (bill.out_of_pocket, bill.total_cost, bill.serious_illness) == (
        Decimal("18508.20"),
        Decimal("48620.50"),
        True,
    )
    listed = trigger_for(parsed("monitoring.household.listed"), "k")
    assert listed is not None
    assert listed.risk == "illness" and listed.per_capita_annual_income == Decimal(5830)
    assert [m.relation for m in listed.members] == ["householder", "spouse", "child"]
    expiring = trigger_for(parsed("disability.certificate.expiring"), "k")
    assert expiring is not None and expiring.certificate_valid_until == "2024-05-31"


def test_a_case_started_by_a_trigger_has_a_stable_id() -> None:
    trigger = trigger_for(parsed("medical.settlement.recorded", event_id="e-1"), "key")
    assert trigger is not None
    start = case_start_for(trigger)
    assert start.case_id == case_id_for(trigger) == case_id_for_trigger(trigger.event_id)
    assert (start.household_key, start.district) == ("key", "yongding")
    assert case_workflow_id("key") == "outreach-case-key"


@pytest.mark.parametrize("event_type", list(REGISTRY))
def test_personal_fields_are_split_off_for_encryption(event_type: str) -> None:
    event = parsed(event_type)
    stored = new_event_for(event)
    clear = json.dumps(
        {k: v for k, v in stored.data.items() if k != "personal"}, ensure_ascii=False
    )
    for secret in (HOUSEHOLD, ID_NUMBER, "张建国", "13907441234"):
        assert secret not in clear
    personal = stored.data["personal"]
    assert personal["household"]["household_id"] == HOUSEHOLD
    assert stored.data["household"]["district"] == "yongding"  # what projections need stays
    assert stored.event_id == event.event_uuid and stored.type == event_type
    assert stored.source == event.source
    assert stored.extra_metadata["cloudevent_id"] == event.id
    assert set(PERSONAL_PATHS) == set(REGISTRY)


def test_unknown_fields_are_kept() -> None:
    event = samples.fact_reported(household_id=HOUSEHOLD, id_number=ID_NUMBER)
    event["data"]["fact"]["source_system"] = "tax-2024"
    event["traceparent"] = "00-abc-def-01"
    stored = new_event_for(parse_inbound(samples.to_value(event), REGISTRY[event["type"]].topic))
    assert stored.data["fact"]["source_system"] == "tax-2024"
    assert stored.extra_metadata["extensions"] == {"traceparent": "00-abc-def-01"}


def test_the_checked_in_asyncapi_document_is_current() -> None:
    checked_in = (ROOT / "docs" / "asyncapi.json").read_text()
    assert checked_in == asyncapi_json(), (
        "docs/asyncapi.json is stale: run `.venv/bin/outreach ingest --asyncapi > "
        "docs/asyncapi.json`"
    )


def test_the_asyncapi_document_describes_every_topic() -> None:
    document = asyncapi_document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {*INBOUND_TOPICS, DEADLETTER_TOPIC}
    text = json.dumps(document)
    for event_type in REGISTRY:
        assert event_type in text

"""The worker's pydantic converter: same payloads as the stock one, one adapter cache."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import SerializationContext, WorkflowSerializationContext

from outreach.worker.converter import (
    SharedPydanticPayloadConverter,
    shared_pydantic_data_converter,
    type_adapter,
)
from outreach.workflows.case_contract import CaseStart, Trigger

TRIGGER = Trigger(
    event_id="e",
    event_type="medical.settlement.recorded",
    source="/s",
    occurred_at=datetime(2024, 3, 1, tzinfo=UTC),
    household_key="k",
    district="yongding",
    urban=True,
    out_of_pocket=Decimal("150000.50"),
)


def test_same_wire_format_as_the_stock_pydantic_converter() -> None:
    ours = shared_pydantic_data_converter.payload_converter
    stock = pydantic_data_converter.payload_converter
    payloads = ours.to_payloads([TRIGGER])
    assert payloads == stock.to_payloads([TRIGGER])
    assert stock.from_payloads(payloads, [Trigger]) == [TRIGGER]
    assert ours.from_payloads(payloads, [Trigger]) == [TRIGGER]


def test_converters_made_for_each_workflow_share_one_adapter_cache() -> None:
    context: SerializationContext = WorkflowSerializationContext(namespace="n", workflow_id="w")
    first = shared_pydantic_data_converter.payload_converter.with_context(context)
    second = SharedPydanticPayloadConverter().with_context(context)
    start = CaseStart("k", "cili", True, "c")
    payloads = first.to_payloads([start])
    type_adapter.cache_clear()
    assert first.from_payloads(payloads, [CaseStart]) == [start]
    assert second.from_payloads(payloads, [CaseStart]) == [start]
    info = type_adapter.cache_info()
    assert (info.misses, info.hits) == (1, 1)  # built once, then shared

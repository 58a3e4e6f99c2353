"""The edge's one rule (outreach.events.limits): what the store and Temporal cannot hold is
refused with a reason naming the field, the same way by the fast and the slow path."""

from __future__ import annotations

from typing import Any

import pytest

from outreach.events import InvalidEvent, parse_inbound, samples
from outreach.events.limits import (
    MAX_DEPTH,
    Unstorable,
    check_document,
    printable,
    suspect_bytes,
)
from outreach.events.parsing import _parse_fast, _parse_slow
from outreach.events.topics import DISABILITY_TOPIC, FACTS_TOPIC, MEDICAL_TOPIC


def _refusal(raw: bytes, topic: str) -> str:
    """The reason both paths give for ``raw`` (the fast path must not take it)."""
    assert _parse_fast(raw, topic) is None
    with pytest.raises(InvalidEvent) as slow:
        _parse_slow(raw, topic)
    with pytest.raises(InvalidEvent) as got:
        parse_inbound(raw, topic)
    assert got.value.reason == slow.value.reason
    return got.value.reason


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("id", "x" * 257, "id: must be at most 256 characters, got 257"),
        ("source", "s" * 300, "source: must be at most 256 characters, got 300"),
        ("subject", "s" * 2001, "subject: String should have at most 2000 characters"),
        ("data.household.household_id", "h" * 257, "data.household.household_id: must be"),
        ("data.household.district", "d" * 101, "data.household.district: must be at most 100"),
        ("data.household.township", "t" * 101, "data.household.township: String should have"),
        ("data.person.name", "n" * 101, "data.person.name: must be at most 100 characters"),
        ("data.person.address", "a" * 2001, "data.person.address: String should have at most"),
        ("data.certificate.number", "c" * 257, "data.certificate.number: must be at most 256"),
        ("data.certificate.valid_until", "9999-12-31", "data.certificate.valid_until: must be a"),
        ("data.certificate.issued_on", "1899-12-31", "data.certificate.issued_on: must be a date"),
        ("time", "2200-01-01T08:00:00+08:00", "time: must be a time from 1900-01-01"),
        ("time", "1900-01-01T07:59:59+08:00", "time: must be a time from 1900-01-01"),
        ("data.extra", "a\u0000", "data.extra: must not contain a NUL character"),
        ("data.person.phone", "\u0000", "data.person.phone: must not contain a NUL"),
    ],
)
def test_each_bound_is_named_in_the_reason(path: str, value: Any, reason: str) -> None:
    raw = samples.to_value_with(samples.certificate_issued(), path, value)
    assert _refusal(raw, DISABILITY_TOPIC).startswith(reason)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("time", "2199-12-31T23:59:59+00:00"),
        ("time", "1900-01-01T08:00:00+08:00"),
        ("data.certificate.valid_until", "2199-12-31"),
        ("data.household.district", "d" * 100),
        ("id", "x" * 256),
    ],
)
def test_values_at_the_bounds_are_taken_by_the_fast_path(path: str, value: Any) -> None:
    raw = samples.to_value_with(samples.certificate_issued(), path, value)
    assert _parse_fast(raw, DISABILITY_TOPIC) is not None


def test_a_nul_in_settlement_text_and_a_bad_time_are_refused() -> None:
    hospital = samples.to_value_with(
        samples.settlement_recorded(), "data.settlement.hospital", "医院\u0000"
    )
    assert _refusal(hospital, MEDICAL_TOPIC) == (
        "data.settlement.hospital: must not contain a NUL character (\\u0000)"
    )
    late = samples.to_value_with(samples.settlement_recorded(), "time", "9999-12-31T23:59:59-23:59")
    assert _refusal(late, MEDICAL_TOPIC).startswith("time: must be a time from 1900-01-01")


@pytest.mark.parametrize(
    ("fragment", "reason"),
    [
        (b'"x": 1e400', "x: must be a finite number"),
        (b'"x": {"y": [-1e999]}', "x.y[0]: must be a finite number"),
        (b'"x": "\\ud800"', "x: must not contain an unpaired surrogate"),
        (b'"x\\u0000": 1', "(a key): must not contain a NUL character"),
        (b'"x": ' + b"9" * 100, "x: is too large a number"),
        (b'"x": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, "nested more than 32 levels deep"),
    ],
)
def test_untyped_values_in_extra_fields_are_checked_too(fragment: bytes, reason: str) -> None:
    raw = samples.to_value(samples.fact_reported()).replace(b'"count":1', b'"count":1,' + fragment)
    refused = _refusal(raw, FACTS_TOPIC)
    assert refused.startswith("data.fact.") and reason in refused


def test_a_fact_detail_past_the_depth_is_refused_and_one_within_is_taken() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH):
        deep = {"a": deep}
    raw = samples.to_value(samples.fact_reported(detail=deep))
    assert "nested more than 32 levels deep" in _refusal(raw, FACTS_TOPIC)
    within: Any = "leaf"
    for _ in range(MAX_DEPTH - 4):  # event, data, fact, detail: four levels above
        within = {"a": within}
    assert _parse_fast(samples.to_value(samples.fact_reported(detail=within)), FACTS_TOPIC)


def test_a_surrogate_pair_is_fine_and_goes_the_slow_way() -> None:
    raw = samples.to_value(samples.fact_reported(detail="😀")).replace(
        "😀".encode(), b"\\ud83d\\ude00"
    )
    assert suspect_bytes(raw)
    event = parse_inbound(raw, FACTS_TOPIC)
    assert event.data.fact.detail == "😀"  # type: ignore[attr-defined]


def test_check_document_and_printable() -> None:
    check_document({"a": ["ok", 1, 1.5, None, True, {"b": "文本"}]})
    with pytest.raises(Unstorable, match=r"^a\[1\]: must not contain a NUL"):
        check_document({"a": ["ok", "x\x00"]})
    assert printable("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert printable("x" * 500) == "x" * 200
    assert printable("正常") == "正常"
    assert not suspect_bytes(samples.to_value(samples.certificate_issued()))

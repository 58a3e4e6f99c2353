"""parse_inbound's fast path (JSON bytes validated in one pass) against the slow path (decode,
then validate the document): the same event or the same dead-letter reason, whatever the input.

The fast path may decline (return None) anything; it must never accept what the slow path
rejects, nor give a different event. Every rejection is worded by the slow path.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from outreach.events import InvalidEvent, event_uuid, parse_inbound
from outreach.events import samples as s
from outreach.events.envelope import EVENT_NAMESPACE
from outreach.events.fields import Amount, NonEmptyStr, OptionalText, Rfc3339Time, Token
from outreach.events.identity import make_id_number
from outreach.events.parsing import _parse_fast, _parse_slow
from outreach.events.registry import REGISTRY
from outreach.events.topics import FACTS_TOPIC, MEDICAL_TOPIC

Path = tuple[str | int, ...]


def outcome(raw: bytes, topic: str) -> tuple[Any, ...]:
    """What parse_inbound makes of ``raw``: the event as dumped, or the dead-letter details."""
    try:
        event = parse_inbound(raw, topic)
    except InvalidEvent as exc:
        return ("invalid", exc.kind, exc.reason, exc.event_type, exc.source, exc.event_id)
    return ("event", *_event_facts(event))


def slow_outcome(raw: bytes, topic: str) -> tuple[Any, ...]:
    try:
        event = _parse_slow(raw, topic)
    except InvalidEvent as exc:
        return ("invalid", exc.kind, exc.reason, exc.event_type, exc.source, exc.event_id)
    return ("event", *_event_facts(event))


def _event_facts(event: BaseModel) -> tuple[Any, ...]:
    return (
        type(event),
        event.model_dump(mode="json", exclude_unset=True),
        repr(event.model_dump()),  # Python values, e.g. Decimal('100.0') vs Decimal('100')
        _fields_set(event),
    )


def _fields_set(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {
            name: _fields_set(getattr(value, name))
            for name in sorted(value.model_fields_set)
            if name in type(value).model_fields
        }
    if isinstance(value, list):
        return [_fields_set(item) for item in value]
    return None


def assert_same(raw: bytes, topic: str, *, fast: bool) -> tuple[Any, ...]:
    """Both paths agree on ``raw``; ``fast`` says whether the fast path takes it alone."""
    got = outcome(raw, topic)
    assert got == slow_outcome(raw, topic), raw[:300]
    assert (_parse_fast(raw, topic) is not None) is fast, raw[:300]
    return got


def sample(event_type: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("event_id", "fp-1")
    return s.sample_event(event_type, **kwargs)


def set_path(event: dict[str, Any], path: Path, new: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    target: Any = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return event


def leaf_paths(node: Any, prefix: Path = ()) -> Iterator[Path]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from leaf_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from leaf_paths(value, (*prefix, index))


TYPES = list(REGISTRY)


# --------------------------------------------------------------------------- valid events


@pytest.mark.parametrize("event_type", TYPES)
def test_every_sample_takes_the_fast_path_with_the_same_event(event_type: str) -> None:
    raw = s.to_value(sample(event_type))
    got = assert_same(raw, REGISTRY[event_type].topic, fast=True)
    assert got[0] == "event"


@pytest.mark.parametrize("event_type", TYPES)
def test_unknown_extra_fields_are_kept_alike(event_type: str) -> None:
    event = sample(event_type)
    event["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    event["ext"] = {"n": 1.25, "big": 10**30, "tiny": 5e-324, "s": "官黎坪\u2028", "l": [None]}
    event["data"]["batch"] = {"rows": 1200, "ratio": 0.62}
    event["data"]["household"]["village"] = "沅古坪村"
    got = assert_same(s.to_value(event), REGISTRY[event_type].topic, fast=True)
    dumped = got[2]
    assert dumped["ext"] == event["ext"]
    assert dumped["data"]["household"]["village"] == "沅古坪村"


@pytest.mark.parametrize(
    "amount",
    [0, 1, 18508.2, 18508.20, 100.0, 1e2, 1.5e-5, 1e11, 10**11, "18508.20", "100.0", " 12.5 ",
     "1e2", "0", "-0", -0.0, "1_000", "999999999998.999999"],
)  # fmt: skip
def test_amounts_as_numbers_and_numeric_strings(amount: Any) -> None:
    """JSON floats for Decimals are where pydantic's JSON and Python modes differ by default
    (100.0 -> Decimal('100') vs Decimal('100.0')); both paths must give the same Decimal."""
    raw = s.to_value(
        s.settlement_recorded(total_cost=10**12 - 1, fund_paid=0, out_of_pocket=amount)
    )
    got = assert_same(raw, MEDICAL_TOPIC, fast=True)
    assert got[0] == "event"
    raw = s.to_value(s.fact_reported(kind="income", amount=amount))
    assert_same(raw, FACTS_TOPIC, fast=True)


@pytest.mark.parametrize(
    "amount", [10**12, 1e16, 10**20, "1e12", 1.5e-7, "0.0000001", "1E-100000", "1e100000"]
)
def test_amounts_past_the_bounds_are_refused_by_both_paths(amount: Any) -> None:
    """A trillion yuan or more, or more than six decimal places: refused alike."""
    raw = s.to_value(s.fact_reported(kind="income", amount=amount))
    got = assert_same(raw, FACTS_TOPIC, fast=False)
    assert got[:2] == ("invalid", "schema")
    assert got[2].startswith("data.fact.amount: ")


def test_a_json_float_amount_keeps_its_python_form() -> None:
    event = parse_inbound(s.to_value(s.fact_reported(kind="income", amount=100.0)), FACTS_TOPIC)
    assert repr(event.model_dump()["data"]["fact"]["amount"]) == "Decimal('100.0')"
    assert event.to_json_dict()["data"]["fact"]["amount"] == "100.0"


@pytest.mark.parametrize(
    ("district", "expected"),
    [
        ("yongding", "yongding"),
        ("  WuLingYuan ", "wulingyuan"),
        ("CILI", "cili"),
        ("慈利县", "慈利县"),
    ],
)
def test_district_case_and_whitespace(district: str, expected: str) -> None:
    raw = s.to_value(s.certificate_issued(district=district))
    got = assert_same(raw, REGISTRY["disability.certificate.issued"].topic, fast=True)
    assert got[2]["data"]["household"]["district"] == expected


@pytest.mark.parametrize(
    "text",
    ["  padded  ", "\t\ttabs\t", "\u3000全角空格\u3000", "\xa0nbsp\xa0", "\u2028x\u2028", " \x85x"],
)
def test_whitespace_around_strings_is_stripped_alike(text: str) -> None:
    event = s.settlement_recorded(event_id=text)
    event["data"]["person"]["name"] = text
    event["data"]["settlement"]["hospital"] = text
    got = assert_same(s.to_value(event), MEDICAL_TOPIC, fast=True)
    assert got[2]["id"] == got[2]["data"]["person"]["name"] == text.strip()


@pytest.mark.parametrize("text", ["\x1fname", "name\x1c", " \x1d name \x1e ", "a\x1fb"])
def test_strings_with_information_separators_go_the_slow_way(text: str) -> None:
    """str.strip() strips U+001C-U+001F, pydantic-core does not: the fast path declines."""
    event = s.settlement_recorded()
    event["data"]["person"]["name"] = text
    assert_same(s.to_value(event), MEDICAL_TOPIC, fast=False)
    event = s.settlement_recorded(event_id=text)
    assert_same(s.to_value(event), MEDICAL_TOPIC, fast=False)


def test_x_check_character_in_either_case() -> None:
    with_x = make_id_number("430802", date(1975, 9, 12), 8)
    assert with_x.endswith("X")
    for number in (with_x, with_x.lower(), f"  {with_x.lower()} "):
        got = assert_same(
            s.to_value(s.certificate_issued(id_number=number)),
            REGISTRY["disability.certificate.issued"].topic,
            fast=True,
        )
        assert got[2]["data"]["person"]["id_number"] == with_x


_ID = make_id_number("430802", date(1968, 4, 23), 31)
_ID_X = make_id_number("430802", date(1975, 9, 12), 8)
# "A" in place of the first digit, and the check character its base-13 arithmetic would give.
_LETTER = "A" + _ID[1:17] + "10X98765432"[2 * int("A" + _ID[1:17], 13) % 11]


@pytest.mark.parametrize(
    ("number", "fast"),
    [
        (_ID, True),
        (f" {_ID}\t", True),
        (f"\u3000{_ID_X.lower()}\n", True),
        (f"\x1c{_ID}", False),  # str.strip() strips U+001C, pydantic-core does not
        (f"{_ID}\x1f ", False),
        (_ID[:17] + ("3" if _ID[17] != "3" else "4"), False),  # check digit
        (_ID[:17], False),
        (_ID + "1", False),
        ("430802680423031", False),  # legacy
        ("".join(chr(0xFF10 + int(d)) for d in _ID), False),  # full-width digits
        (make_id_number("430802", date(1899, 12, 31), 12), False),
        (make_id_number("430802", date(2999, 1, 1), 12), False),
        ("430802" + "19900230" + "0120", False),
        (_LETTER, False),
        (int(_ID), False),
        ("", False),
    ],
)
def test_id_numbers(number: Any, fast: bool) -> None:
    got = assert_same(s.to_value(s.fact_reported(id_number=number)), FACTS_TOPIC, fast=fast)
    if not fast:
        return
    assert got[2]["data"]["person"]["id_number"] == str(number).strip().upper()


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/cloudevents+json", "APPLICATION/JSON",
     "application/json; charset=utf-8", " application/json\t", "application/ld+json"],
)  # fmt: skip
def test_json_media_types_take_the_fast_path(content_type: str) -> None:
    event = s.fact_reported()
    event["datacontenttype"] = content_type
    assert_same(s.to_value(event), FACTS_TOPIC, fast=True)


@pytest.mark.parametrize(
    "dataschema", ["https://schemas.example/facts/v1", "urn:x/v1/", "https://schemas.example"]
)
def test_a_dataschema_of_the_current_version_takes_the_fast_path(dataschema: str) -> None:
    event = s.fact_reported()
    event["dataschema"] = dataschema
    assert_same(s.to_value(event), FACTS_TOPIC, fast=True)


# -------------------------------------------------------- declined: the slow path decides


def old_settlement() -> dict[str, Any]:
    """A medical.settlement.recorded event in the shape of schema version 0."""
    event = s.settlement_recorded()
    event["data"]["settlement"]["self_paid"] = event["data"]["settlement"].pop("out_of_pocket")
    return event


@pytest.mark.parametrize("version", [0, "0", 1, "1", " 1 ", 1.0, True, 2, -1, "latest"])
def test_a_stated_schemaversion_goes_the_slow_way(version: Any) -> None:
    """The model would coerce "1", 1.0 or true; the slow path reads the version as sent."""
    for event in (s.settlement_recorded(), old_settlement()):
        assert_same(s.to_value({**event, "schemaversion": version}), MEDICAL_TOPIC, fast=False)


def test_a_null_schemaversion_is_no_version() -> None:
    event = {**s.settlement_recorded(), "schemaversion": None}
    assert_same(s.to_value(event), MEDICAL_TOPIC, fast=True)


def test_an_old_version_is_upcast_by_the_slow_path() -> None:
    event = old_settlement()
    for marker in ({"schemaversion": 0}, {"dataschema": "https://schemas.example/medical/v0"}):
        got = assert_same(s.to_value({**event, **marker}), MEDICAL_TOPIC, fast=False)
        assert got[0] == "event"
        assert got[2]["schemaversion"] == 1
        assert "out_of_pocket" in got[2]["data"]["settlement"]


def test_a_newer_dataschema_version_is_refused_by_the_slow_path() -> None:
    event = {**s.fact_reported(), "dataschema": "https://schemas.example/facts/v2"}
    got = assert_same(s.to_value(event), FACTS_TOPIC, fast=False)
    assert got[:2] == ("invalid", "schema")


@pytest.mark.parametrize("event_type", TYPES)
def test_wrong_topic(event_type: str) -> None:
    raw = s.to_value(sample(event_type))
    for topic in {spec.topic for spec in REGISTRY.values()} - {REGISTRY[event_type].topic}:
        got = assert_same(raw, topic, fast=False)
        assert got[:2] == ("invalid", "topic")


def test_unknown_type() -> None:
    event = {**s.fact_reported(), "type": "facts.household.retracted"}
    got = assert_same(s.to_value(event), FACTS_TOPIC, fast=False)
    assert got[:2] == ("invalid", "unknown_type")


@pytest.mark.parametrize(
    "content_type",
    ["application/xml", "text/json", "application/json\n", "\x1capplication/json", 5, ""],
)
def test_other_datacontenttypes_go_the_slow_way(content_type: Any) -> None:
    event = s.fact_reported()
    event["datacontenttype"] = content_type
    assert_same(s.to_value(event), FACTS_TOPIC, fast=False)


@pytest.mark.parametrize("value", ["e30=", None, ""])
def test_data_base64_is_refused_with_its_own_reason(value: Any) -> None:
    event = s.fact_reported()
    event["data_base64"] = value
    event["data"] = {"household": "broken"}  # other errors are not reported with it
    got = assert_same(s.to_value(event), FACTS_TOPIC, fast=False)
    assert got[1:3] == (
        "schema",
        "data_base64 is not supported: data must be a JSON value in 'data'",
    )


def test_datacontenttype_is_reported_alone() -> None:
    event = s.fact_reported(id_number="430802680423031")  # a legacy ID number as well
    event["datacontenttype"] = "application/xml"
    got = assert_same(s.to_value(event), FACTS_TOPIC, fast=False)
    assert got[1:3] == (
        "schema",
        "datacontenttype must be a JSON media type such as application/json",
    )


@pytest.mark.parametrize(
    "fragment",
    [b'"x":NaN', b'"x":Infinity', b'"x":-Infinity', b'"x":[1,NaN]', b'"x":"NaN"', b'"x":1e400'],
)
def test_nan_and_infinity(fragment: bytes) -> None:
    """pydantic's JSON parsing accepts NaN and Infinity, json.loads-compatible decoding does
    not; a message mentioning them goes the slow way (even inside a string)."""
    raw = s.to_value(s.fact_reported()).replace(b'"count":1', b'"count":1,' + fragment)
    got = assert_same(raw, FACTS_TOPIC, fast=False)
    # 1e400 is an infinity too, which no JSON column holds (outreach.events.limits)
    assert got[0] == ("event" if fragment == b'"x":"NaN"' else "invalid")


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"{not json", b"[1, 2]", b"null", b"{}",
     b'{"type": "facts.household.reported"}', b"[" * 3000 + b"]" * 3000],
)  # fmt: skip
def test_messages_that_are_no_event(raw: bytes) -> None:
    got = assert_same(raw, FACTS_TOPIC, fast=False)
    assert got[0] == "invalid"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"kind":"vehicle"', b'"kind":"boat","kind":"vehicle"'),  # duplicate keys: last wins
        (b'"kind":"vehicle"', b'"kind":"vehicle","kind":"boat"'),
        (b'"count":1', b'"count":1,"x":1,"y":2,"x":3'),
        (b'"id":"fp-1"', b'"\\u0069d":"fp-1"'),  # escaped key
        (b'"count":1', b'"count":1,"x":"\\ud800"'),  # lone surrogate
        (b'"count":1', b'"count":1,"x":"\xff"'),  # not UTF-8
        (b'"count":1', b'"count":1,"x":"a\tb"'),  # raw control character
        (b'"count":1', b'"count":01'),
    ],
)
def test_byte_level_oddities(old: bytes, new: bytes) -> None:
    raw = s.to_value(s.fact_reported(event_id="fp-1"))
    assert old in raw
    got = outcome(raw.replace(old, new), FACTS_TOPIC)
    assert got == slow_outcome(raw.replace(old, new), FACTS_TOPIC)


# ------------------------------------------------------------- every field, many values

VALUES: list[Any] = [
    None, True, 0, 1, -1, 2.0, 2.5, 100.0, 10**20, "", " ", "  x  ", "X", "2", "-1", "1e2",
    "abc\x1f", "a\x00b", "\u3000x", "YongDing", "ΑΣ", "ß", "2024-02-30", "2024-02-05",
    "2024-02-05T00:00:00", "2024-03-01T09:30:00.5Z",
    "\uff12\uff10\uff12\uff14-03-01T09:30:00+08:00",  # full-width digits
    "2024-03-01T09:30Z", "2024-03-01T09:30:00+0800", "1709256600", 1709256600, [], {},
    {"a": 1}, "income", "INCOME", "43080219750912008x", "430802680423031", "application/json",
]  # fmt: skip


@pytest.mark.parametrize("event_type", TYPES)
def test_every_field_with_many_values(event_type: str) -> None:
    """Replace each field (leaf or not) of a sample by each value: both paths agree."""
    base = sample(event_type)
    topic = REGISTRY[event_type].topic
    fast_taken = 0
    for path in list(leaf_paths(base)):
        for new in VALUES:
            raw = s.to_value(set_path(base, path, new))
            assert outcome(raw, topic) == slow_outcome(raw, topic), (path, new)
            fast_taken += _parse_fast(raw, topic) is not None
    assert fast_taken > 0


# ------------------------------------------------------------------ the field types alone

_AWKWARD = sorted(
    {chr(c) for c in range(0x3001) if chr(c).isspace() or c < 0x20 or c == 0x7F}
    | {"\u180e", "\u200b", "\ufeff", "a", "İ", "Σ"}
)


@pytest.mark.parametrize("field_type", [NonEmptyStr, Token, OptionalText])
def test_json_strings_validate_as_python_strings(field_type: Any) -> None:
    """The Rust checks JSON strings get accept a subset and strip to the same text."""
    adapter: TypeAdapter[str] = TypeAdapter(field_type)
    accepted = 0
    for char in _AWKWARD:
        for text in (char, f"{char}x{char}", f" {char}a{char} ", f"a{char}", f"{char}{char} "):
            try:
                from_json = adapter.validate_json(json.dumps(text))
            except ValueError:
                continue
            accepted += 1
            assert adapter.validate_python(text) == from_json, repr(text)
    assert accepted > 100


def test_json_amounts_and_times_validate_as_python_values() -> None:
    amount: TypeAdapter[Decimal] = TypeAdapter(Amount)
    for text in ("100.0", "1e2", "0.1", "18508.20", "1.7976931348623157e308", '"12.50"', "7"):
        got = amount.validate_json(text)
        assert repr(got) == repr(amount.validate_python(json.loads(text)))
    time: TypeAdapter[Any] = TypeAdapter(Rfc3339Time)
    for text in ("2024-03-01T09:30:00+08:00", "2024-03-01 09:30:00.123456789Z"):
        assert time.validate_json(json.dumps(text)) == time.validate_python(text)


# ------------------------------------------------------------------------------ event_uuid


@pytest.mark.parametrize(
    ("source", "event_id"),
    [
        ("/agencies/medical-insurance/zhangjiajie", "JS-2024-000187"),
        ("/agencies/data-exchange/zhangjiajie", str(uuid.UUID(int=7))),
        ("/机构/医保", "结算-001"),
        ("s", ""),
    ],
)
def test_event_uuid_is_uuid5_of_the_idempotency_key(source: str, event_id: str) -> None:
    assert event_uuid(source, event_id) == uuid.uuid5(EVENT_NAMESPACE, f"{source}\n{event_id}")
    assert event_uuid(source, event_id).version == 5

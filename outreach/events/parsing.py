"""The one entry point ingest uses: raw Kafka message value -> validated inbound event.

:func:`parse_inbound` either returns a typed :class:`InboundEvent` or raises
:class:`InvalidEvent`, whose ``reason`` is written for a person (it becomes the dead-letter
``error`` header) and whose ``kind`` says which contract rule was broken:

- ``json``: not UTF-8, not JSON, or empty;
- ``unknown_type``: a well-formed CloudEvent of a type not in the registry;
- ``topic``: a known type on a topic other than the one CONTRACT.md assigns it;
- ``id_number``: a resident ID number fails GB 11643 (reported first when there are others);
- ``schema``: anything else: envelope, data, schema version, and anything the store or
  Temporal could not hold (``outreach.events.limits``: a NUL, an infinity, a value past its
  bound), checked over the whole document first.

Checks run in that order for a known type: topic, schema version (upcasting older data), then
the model. Reasons name the failing field (``data.person.id_number: check digit should be 7,
got 3``). They never echo ID numbers, names or other identifying input; amounts and dates
may appear where they explain the failure ("out_of_pocket (12000) exceeds total_cost (9000)").

Bytes take a fast path first: pydantic validates them as JSON in one pass (no Python dict in
between) against the union of the registered types. It only ever returns events: anything it
does not accept outright (a validation error, bad JSON, NaN, an unknown type, the wrong topic,
a declared schema version that may need upcasting) goes the slow path described above, which
alone writes reasons. The field types make JSON input accept no more than the decoded document
would and give the same values (outreach.events.fields); tests/unit/test_events_fast_path.py
holds the two paths to that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from types import UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, from_json

from outreach.events.envelope import NOT_STRUCTURED_JSON, CloudEvent
from outreach.events.feeds import InboundEvent
from outreach.events.limits import (
    Unstorable,
    check_document,
    check_document_at,
    printable,
    suspect_bytes,
)
from outreach.events.registry import REGISTRY, EventSpec, SchemaVersionError, declared_version

__all__ = ["InvalidEvent", "InvalidKind", "parse_inbound", "validate_inbound"]

InvalidKind = Literal["json", "unknown_type", "schema", "id_number", "topic"]

_MAX_LISTED_ERRORS = 3

_FRIENDLY = {
    "missing": "is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "must be a date (YYYY-MM-DD)",
    "timezone_aware": "must have a time zone offset",
}


class InvalidEvent(Exception):
    """An inbound message that breaks the contract; it belongs in the dead-letter topic.

    ``reason`` is readable by a person and names no ID number or name; ``event_type``, ``source``
    and ``event_id`` are filled in when the message got far enough to say them.
    """

    def __init__(
        self,
        reason: str,
        kind: InvalidKind,
        *,
        event_type: str | None = None,
        source: str | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind: InvalidKind = kind
        self.event_type = event_type
        self.source = source
        self.event_id = event_id

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"InvalidEvent({self.reason!r}, kind={self.kind!r})"


_ANY_INBOUND: Any = Annotated[  # Any: a union built at run time is no static type
    Union[tuple(spec.model for spec in REGISTRY.values())],  # noqa: UP007
    Field(discriminator="type"),
]
"""Every registered type, chosen by ``type``."""

# Validates JSON bytes in one pass. The validator itself: TypeAdapter.validate_json would add
# about a microsecond of Python per call.
_validate_json = TypeAdapter(_ANY_INBOUND).validator.validate_json


def parse_inbound(raw: bytes | bytearray | memoryview | str, topic: str) -> InboundEvent:
    """Decode and validate one message value read from ``topic``.

    Returns the typed event (data upcast to the current schema version) or raises InvalidEvent.
    """
    if not isinstance(raw, str):
        event = _parse_fast(raw if isinstance(raw, bytes) else bytes(raw), topic)
        if event is not None:
            return event
    return _parse_slow(raw, topic)


def _parse_fast(raw: bytes, topic: str) -> InboundEvent | None:
    """The event when ``raw`` is a valid, current-version event of its topic; else None, and
    the slow path decides (and words the reason)."""
    # pydantic's JSON validation accepts NaN and Infinity; json.loads-compatible parsing (the
    # slow path) refuses them. Any such word, even inside a string, goes the slow way. The
    # one-byte finds (memchr) answer most messages at a quarter of the cost of the word search.
    if (raw.find(b"N") >= 0 and b"NaN" in raw) or (raw.find(b"I") >= 0 and b"Infinity" in raw):
        return None
    # A NUL or a surrogate escape: the slow path checks the whole document.
    if suspect_bytes(raw):
        return None
    try:
        event: InboundEvent = _validate_json(raw)
    except ValueError:  # ValidationError, also for malformed JSON
        return None
    # The typed fields are bounded; what no model types (extra fields, a fact's detail) may
    # still hold an infinity (1e309) or nest too deeply.
    if not _untyped_storable(event, 1):
        return None
    spec = REGISTRY[event.type]
    if spec.topic != topic:
        return None
    # A stated schemaversion may have been a string, a float or a boolean the model coerced;
    # the slow path reads it as sent. A dataschema is a string either way, so its version
    # (read when there is no schemaversion) is exact here.
    if event.schemaversion is not None:
        return None
    if event.dataschema is not None:
        version = declared_version({"dataschema": event.dataschema})
        if version is not None and version != spec.version:
            return None
    return event


def _parse_slow(raw: bytes | bytearray | memoryview | str, topic: str) -> InboundEvent:
    """:func:`parse_inbound` without the fast path: decode, then :func:`validate_inbound`."""
    if not isinstance(raw, str):
        # pydantic-core's JSON parser first (several times faster than json.loads). It
        # accepts no more than json.loads does (NaN/Infinity refused like _reject_constant, and
        # anything else it refuses goes the slow way) and gives the same document when it
        # succeeds; every error message below comes from the slow path.
        try:
            document = from_json(
                raw if not isinstance(raw, memoryview) else bytes(raw), allow_inf_nan=False
            )
        except (ValueError, TypeError):
            pass
        else:
            return validate_inbound(document, topic)
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(
                f"the message is not valid UTF-8 (byte {exc.start})", "json"
            ) from None
    if not text.strip():
        raise InvalidEvent("the message is empty; expected a CloudEvent as a JSON object", "json")
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            f"the message is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            "json",
        ) from None
    except ValueError as exc:
        raise InvalidEvent(f"the message is not valid JSON: {exc}", "json") from None
    except RecursionError:
        raise InvalidEvent("the message is not valid JSON: nested too deeply", "json") from None
    return validate_inbound(document, topic)


def validate_inbound(document: object, topic: str | None = None) -> InboundEvent:
    """Validate an already decoded event (e.g. from the event store).

    ``topic=None`` skips the topic check, for events that are not read from Kafka.
    """
    if not isinstance(document, Mapping):
        raise InvalidEvent(
            f"the message must be a JSON object (a CloudEvent), got {_json_kind(document)}",
            "schema",
        )
    event_type = document.get("type")
    context = {
        "event_type": _text_or_none(event_type),
        "source": _text_or_none(document.get("source")),
        "event_id": _text_or_none(document.get("id")),
    }
    try:
        check_document(document)
    except Unstorable as exc:
        raise InvalidEvent(exc.reason, "schema", **context) from None
    spec = REGISTRY.get(event_type) if isinstance(event_type, str) else None
    if spec is None:
        try:
            CloudEvent.model_validate(document)
        except ValidationError as exc:
            raise _from_validation_error(exc, **context) from None
        known = ", ".join(sorted(REGISTRY))
        raise InvalidEvent(
            f"unknown event type {printable(str(event_type), 100)!r}; known types: {known}",
            "unknown_type",
            **context,
        )
    if topic is not None and topic != spec.topic:
        raise InvalidEvent(
            f"{spec.type} events belong on {spec.topic}, not on {printable(topic)}",
            "topic",
            **context,
        )
    try:
        version = declared_version(document)
        if version is not None and version != spec.version:
            document = _upcast(spec, document, version)
    except SchemaVersionError as exc:
        raise InvalidEvent(exc.reason, "schema", **context) from None
    try:
        return spec.model.model_validate(document)
    except ValidationError as exc:
        raise _from_validation_error(exc, **context) from None


def _upcast(spec: EventSpec, document: Mapping[str, Any], version: int) -> Mapping[str, Any]:
    """The event with its data brought from ``version`` to the current schema version."""
    data = document.get("data")
    if not isinstance(data, Mapping):
        raise SchemaVersionError("data: must be a JSON object")
    try:
        upcast = spec.upcast(data, version)
    except SchemaVersionError:
        raise
    except Exception as exc:  # an upcaster choking on malformed old data
        raise SchemaVersionError(
            f"data could not be upcast from schema version {version} of {spec.type} "
            f"({type(exc).__name__})"
        ) from None
    return {**document, "data": upcast, "schemaversion": spec.version}


def _from_validation_error(
    exc: ValidationError,
    *,
    event_type: str | None,
    source: str | None,
    event_id: str | None,
) -> InvalidEvent:
    errors = exc.errors(include_url=False, include_input=False)
    context = {"event_type": event_type, "source": source, "event_id": event_id}
    not_structured = [e for e in errors if e["type"] in NOT_STRUCTURED_JSON and len(e["loc"]) == 1]
    if not_structured:  # data_base64 first, as the model validator these replace checked it
        first = min(not_structured, key=lambda e: e["type"] != "data_base64")
        return InvalidEvent(first["msg"], "schema", **context)
    id_errors = [e for e in errors if e["type"] == "id_number"]
    ordered = id_errors + [e for e in errors if e["type"] != "id_number"]
    parts = [_describe(e) for e in ordered[:_MAX_LISTED_ERRORS]]
    if len(ordered) > _MAX_LISTED_ERRORS:
        more = len(ordered) - _MAX_LISTED_ERRORS
        parts.append(f"and {more} more problem{'s' if more > 1 else ''}")
    kind: InvalidKind = "id_number" if id_errors else "schema"
    return InvalidEvent("; ".join(parts), kind, **context)


def _describe(error: ErrorDetails) -> str:
    where = _location(error["loc"])
    kind = error["type"]
    message = _FRIENDLY.get(kind, error["msg"])
    if kind == "value_error":  # a plain ValueError from a validator
        message = str((error.get("ctx") or {}).get("error", error["msg"]))
    return f"{where}: {message}" if where else message


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null"


def _text_or_none(value: object) -> str | None:
    """What the message claimed, cut and made storable: it goes to a column and a header."""
    return printable(value) if isinstance(value, str) else None


def _untyped_storable(model: BaseModel, depth: int) -> bool:
    """True when what ``model`` and its nested models hold outside typed fields (extra fields,
    a fact's detail) passes :func:`check_document`; ``depth``: the level ``model`` is at."""
    try:
        _check_untyped(model, depth)
    except Unstorable:
        return False
    return True


def _check_untyped(model: BaseModel, depth: int) -> None:
    extra = model.__pydantic_extra__
    if extra:
        check_document_at(extra, depth)
    for name, kind in _nested(type(model)):
        value = getattr(model, name)
        if value is None:
            continue
        if kind == "model":
            _check_untyped(value, depth + 1)
        elif kind == "models":
            for item in value:
                _check_untyped(item, depth + 2)
        else:
            check_document_at(value, depth + 1)


@cache
def _nested(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """``cls``'s fields that hold a model (``model``), a list of models (``models``) or any JSON
    (``json``), read once per class: the fast path walks only those."""
    found: list[tuple[str, str]] = []
    for name, info in cls.model_fields.items():
        annotation = info.annotation
        if get_origin(annotation) in (Union, UnionType):  # X | None
            options = [a for a in get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else Any
        if get_origin(annotation) is list:
            (item,) = get_args(annotation)
            if isinstance(item, type) and issubclass(item, BaseModel):
                found.append((name, "models"))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.append((name, "model"))
        elif annotation is Any or name in _JSON_FIELDS:
            found.append((name, "json"))
    return tuple(found)


_JSON_FIELDS: Final = frozenset({"detail"})
"""Fields typed ``JsonValue`` (a recursive alias that get_args does not see through)."""

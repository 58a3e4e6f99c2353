"""Field types shared by the event models: readable errors, no surprises.

Every custom failure raises :class:`pydantic_core.PydanticCustomError` with a plain-English
message, because the message ends up in a dead-letter header read by a person.

Ingest first validates the raw JSON bytes in pydantic's JSON mode (the fast path of
:func:`outreach.events.parse_inbound`) and validates the decoded document (Python mode) when
that fails. So every type here must accept no more from JSON than from the decoded document,
and give the same value when it accepts: see :class:`JsonForm`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from outreach.events.limits import (
    EARLIEST,
    EARLIEST_TIME,
    LATEST,
    LATEST_TIME,
    MAX_AMOUNT,
    MAX_AMOUNT_PLACES,
    MAX_ID,
    MAX_NAME,
    MAX_PLACE,
    MAX_TEXT,
)

__all__ = [
    "Amount",
    "Day",
    "Flag",
    "Identifier",
    "InboundAmount",
    "JsonForm",
    "LowerText",
    "Name",
    "NonEmptyStr",
    "OptionalText",
    "Place",
    "Rfc3339Time",
    "Text",
    "Token",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# RFC 3339 date-time: full date, time, optional fraction, mandatory offset ("Z" or +hh:mm).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
# The same shape for the Rust regex engine (JSON input), ASCII digits only: it matches a subset
# of what _RFC3339 matches (Python's \d also takes other Unicode digits), never more.
_RFC3339_ASCII = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _non_empty(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("blank", "must not be empty")
    return stripped


def _token(value: str) -> str:
    stripped = _non_empty(value)
    if _CONTROL.search(stripped):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return stripped


def _lower_text(value: str) -> str:
    return _non_empty(value).lower()


def _at_most(limit: int) -> AfterValidator:
    """A length bound, checked after stripping (as pydantic-core's ``max_length`` is)."""

    def check(value: str) -> str:
        if len(value) > limit:
            raise PydanticCustomError(
                "too_long",
                "must be at most {limit} characters, got {length}",
                {"limit": limit, "length": len(value)},
            )
        return value

    return AfterValidator(check)


def _in_range(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise PydanticCustomError(
            "date_range",
            "must be a date from {earliest} to {latest}",
            {"earliest": str(EARLIEST), "latest": str(LATEST)},
        )
    return value


def _time_in_range(value: datetime) -> datetime:
    try:
        within = EARLIEST_TIME <= value < LATEST_TIME
    except OverflowError:  # an offset that takes it past what datetime holds
        within = False
    if not within:
        raise PydanticCustomError(
            "time_range",
            "must be a time from {earliest} to {latest} (UTC)",
            {"earliest": str(EARLIEST), "latest": str(LATEST)},
        )
    return value


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise PydanticCustomError(
            "negative_amount", "must not be negative, got {value}", {"value": str(value)}
        )
    return value


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime):  # already a datetime (built in code, not from JSON)
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "rfc3339",
            "must be an RFC 3339 timestamp string, got {kind}",
            {"kind": type(value).__name__},
        )
    if not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "rfc3339",
            "must be an RFC 3339 timestamp with a time zone, e.g. 2024-03-01T09:30:00+08:00",
        )
    return value


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity (Annotated metadata is hashed)
class JsonForm:
    """Validate JSON input with ``schema`` instead of the annotated type's validators.

    JSON mode (``model_validate_json``) is ingest's fast path; with this, it validates these
    fields with pydantic-core's own checks (no Python call per field). Python input keeps the
    annotated validators and their messages: a JSON failure only means the slow path (the
    decoded document, validated as Python input) runs and words the reason. So ``schema`` must
    accept a subset of the JSON values the Python form accepts, and give the same value for
    them. The JSON schema (docs) is the Python form's.
    """

    schema: CoreSchema

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.json_or_python_schema(
            json_schema=self.schema, python_schema=handler(source)
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        assert schema["type"] == "json-or-python"
        return handler(schema["python_schema"])


# pydantic-core strips Unicode White_Space; str.strip() also strips U+001C-U+001F. Strings
# free of those four strip alike both ways.
_NO_SEPARATORS = r"^[^\x1c-\x1f]*$"


def _json_str(
    *, pattern: str = _NO_SEPARATORS, min_length: int = 1, max_length: int | None = None
) -> JsonForm:
    return JsonForm(
        core_schema.str_schema(
            strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=pattern
        )
    )


NonEmptyStr = Annotated[str, AfterValidator(_non_empty), _json_str()]
"""A string that is not blank; surrounding whitespace is stripped."""

Token = Annotated[
    str,
    AfterValidator(_token),
    _at_most(MAX_ID),
    _json_str(pattern=r"^[^\x00-\x1f\x7f]*$", max_length=MAX_ID),
]
"""An identifier (CloudEvents ``id``/``source``): not blank, no control characters, bounded."""

Identifier = Annotated[
    str, AfterValidator(_non_empty), _at_most(MAX_ID), _json_str(max_length=MAX_ID)
]
"""An agency's identifier (household id, certificate number): not blank, bounded."""

Name = Annotated[
    str, AfterValidator(_non_empty), _at_most(MAX_NAME), _json_str(max_length=MAX_NAME)
]
"""A person's name or relation: not blank, bounded."""

Text = Annotated[
    str, AfterValidator(_non_empty), _at_most(MAX_TEXT), _json_str(max_length=MAX_TEXT)
]
"""Inbound free text that is not blank (hospital, diagnosis), bounded."""

LowerText = Annotated[str, AfterValidator(_lower_text)]
"""Free text normalised to stripped lower case (e.g. ``district``)."""

Place = Annotated[str, AfterValidator(_lower_text), _at_most(MAX_PLACE)]
"""An inbound district: :data:`LowerText`, short enough for a Temporal search attribute."""

OptionalText = Annotated[
    str, AfterValidator(str.strip), _at_most(MAX_TEXT), _json_str(min_length=0, max_length=MAX_TEXT)
]
"""Free text that may be empty; surrounding whitespace is stripped; bounded."""

Day = Annotated[
    date, AfterValidator(_in_range), JsonForm(core_schema.date_schema(ge=EARLIEST, le=LATEST))
]
"""An inbound date, within what the store and the policy's date arithmetic hold."""

Amount = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    AfterValidator(_not_negative),
    # JSON: the decoded value (any_schema), validated as Python input. Straight from JSON,
    # pydantic reads a float for a Decimal from its own shortest text, without exponent or
    # ".0" (100.0 -> Decimal('100')); from Python via str() (Decimal('100.0')): equal numbers
    # that serialise differently. ge=0 is _not_negative for finite Decimals.
    JsonForm(
        core_schema.chain_schema(
            [core_schema.any_schema(), core_schema.decimal_schema(allow_inf_nan=False, ge=0)]
        )
    ),
]
"""Yuan, as Decimal; JSON numbers or numeric strings; never negative, never NaN/Infinity."""

InboundAmount = Annotated[
    Decimal,
    Field(allow_inf_nan=False, lt=MAX_AMOUNT, decimal_places=MAX_AMOUNT_PLACES),
    AfterValidator(_not_negative),
    JsonForm(
        core_schema.chain_schema(
            [
                core_schema.any_schema(),
                core_schema.decimal_schema(
                    allow_inf_nan=False, ge=0, lt=MAX_AMOUNT, decimal_places=MAX_AMOUNT_PLACES
                ),
            ]
        )
    ),
]
"""An agency's :data:`Amount`: also below a trillion yuan, with at most six decimal places."""

Flag = StrictBool
"""A JSON boolean; ``"yes"``, ``1`` and friends are rejected rather than guessed."""

Rfc3339Time = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_time_in_range),
    # JSON: a string of the RFC 3339 shape (ASCII digits: a subset of what _RFC3339 takes),
    # then the same datetime parser as Python input gets after _rfc3339_text, and the same
    # range (compared in UTC).
    JsonForm(
        core_schema.chain_schema(
            [
                core_schema.str_schema(pattern=_RFC3339_ASCII),
                core_schema.datetime_schema(
                    tz_constraint="aware", ge=EARLIEST_TIME, lt=LATEST_TIME
                ),
            ]
        )
    ),
]
"""An RFC 3339 timestamp string with an explicit offset, within the limits' range; the offset
is preserved."""

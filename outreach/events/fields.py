"""Field types shared by the event models: readable errors, no surprises.

Every custom failure raises :class:`pydantic_core.PydanticCustomError` with a plain-English
message, because the message ends up in a dead-letter header read by a person.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StrictBool
from pydantic_core import PydanticCustomError

__all__ = [
    "Amount",
    "Flag",
    "LowerText",
    "NonEmptyStr",
    "OptionalText",
    "Rfc3339Time",
    "Token",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# RFC 3339 date-time: full date, time, optional fraction, mandatory offset ("Z" or +hh:mm).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def _non_empty(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("blank", "must not be empty")
    return stripped


def _token(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


def _lower(value: str) -> str:
    return value.lower()


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


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
"""A string that is not blank; surrounding whitespace is stripped."""

Token = Annotated[str, AfterValidator(_non_empty), AfterValidator(_token)]
"""An identifier (CloudEvents ``id``/``source``): not blank, no control characters."""

LowerText = Annotated[str, AfterValidator(_non_empty), AfterValidator(_lower)]
"""Free text normalised to stripped lower case (e.g. ``district``)."""

OptionalText = Annotated[str, AfterValidator(str.strip)]
"""Free text that may be empty; surrounding whitespace is stripped."""

Amount = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_not_negative)]
"""Yuan, as Decimal; JSON numbers or numeric strings; never negative, never NaN/Infinity."""

Flag = StrictBool
"""A JSON boolean; ``"yes"``, ``1`` and friends are rejected rather than guessed."""

Rfc3339Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
"""An RFC 3339 timestamp string with an explicit offset; the offset is preserved."""

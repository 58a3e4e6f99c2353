"""JSON as the event store writes and reads it: compact, UTF-8, dates/decimals/UUIDs as strings."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from pydantic_core import from_json, to_json


def dumps(value: Any) -> str:
    """JSON for storage: compact, UTF-8, dates/decimals/UUIDs as strings."""
    encoded: str = _ENCODER.encode(value)
    return encoded


def loads(text: str) -> Any:
    """A stored JSON document (``jsonb`` as text) decoded: Rust's parser (pydantic-core), which
    is several times faster than ``json.loads`` on these; anything it refuses goes to
    ``json.loads``, so the result is always what ``json.loads`` would give."""
    try:
        return from_json(text, allow_inf_nan=False, cache_strings="keys")
    except (ValueError, TypeError):
        return json.loads(text)


def plain_dumps(value: Any) -> str:
    """:func:`dumps` for plain JSON values (``NewEvent.plain_json``), in Rust."""
    return to_json(value).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)

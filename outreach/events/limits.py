"""What the store, the projections and Temporal can hold: the bounds every inbound value meets.

One rule at the edge: a message that passes :func:`check_document` and the field bounds below can
be stored, projected and sent to a case; anything else is refused with a reason naming the field,
so that a class of hostile input cannot come back through another field.

- **Text** anywhere in the document (values and keys, extra fields included) holds no NUL
  (PostgreSQL's ``text`` and ``jsonb`` cannot) and no unpaired surrogate (not Unicode: no UTF-8
  encoding exists for it).
- **Numbers** anywhere are finite and of sane size; a typed field stays within what its
  column holds.
- **Nesting** is at most :data:`MAX_DEPTH` levels (PostgreSQL parses ``jsonb`` recursively).
- **Strings** of typed fields are bounded (``MAX_*``: identifiers, places, names, free text).
- **Dates and times** lie in :data:`EARLIEST` .. :data:`LATEST`: PostgreSQL, Python and the
  policy's date arithmetic all hold them, whatever the offset.
- **Size**: a whole message is bounded by the ``OUTREACH_INGEST_MAX_MESSAGE_BYTES`` setting.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Final

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_AMOUNT",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_ID",
    "MAX_NAME",
    "MAX_PLACE",
    "MAX_TEXT",
    "Unstorable",
    "check_document",
    "check_document_at",
    "printable",
    "suspect_bytes",
]

MAX_ID: Final = 256
"""Identifiers: CloudEvents ``id``, ``source`` and ``type``, household ids, certificate numbers."""
MAX_PLACE: Final = 100
"""District and township: kept as Temporal search attributes (2,048 bytes at most there)."""
MAX_NAME: Final = 100
"""A person's name, a relation, a phone number."""
MAX_TEXT: Final = 2000
"""Free text in a typed field: hospital, diagnosis, address, period, subject, dataschema."""
MAX_COUNT: Final = 2**31 - 1
"""Counts: the projections keep them as ``integer``."""
MAX_AMOUNT: Final = 10**12
"""Yuan, exclusive: a trillion is no household's figure, and any column holds it."""
MAX_AMOUNT_PLACES: Final = 6
"""Decimal places of an amount (yuan have two; agencies sometimes send a few more)."""
MAX_DEPTH: Final = 32
"""Levels of nested objects and arrays, the event itself being level 1."""
EARLIEST: Final = date(1900, 1, 1)
LATEST: Final = date(2199, 12, 31)
EARLIEST_TIME: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME: Final = datetime(2200, 1, 1, tzinfo=UTC)
"""Times are compared in UTC: ``9999-12-31T23:59:59-23:59`` is past the year 9999 there."""

# A NUL or a surrogate escape: only then can decoded JSON text hold what check_document refuses.
# (A surrogate pair is fine, but rare enough to be checked the slow way.)
_ESCAPE: Final = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_BAD_TEXT: Final = re.compile("[\x00\ud800-\udfff]")
_MAX_INT_BITS: Final = 256
"""Whole numbers in untyped places: 77 digits is past any figure, and far inside what JSON
columns and every encoder along the way hold."""


class Unstorable(ValueError):
    """A value the store or Temporal cannot hold; ``reason`` names where (readable, no data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def suspect_bytes(raw: bytes) -> bool:
    """True when the JSON ``raw`` may hold a NUL or an unpaired surrogate once decoded (a byte
    scan or two); False when it certainly does not."""
    return b"\\u" in raw and _ESCAPE.search(raw) is not None


def check_document(document: object) -> None:
    """Raise :class:`Unstorable` for the first value, key or nesting the store cannot hold."""
    _check(document, (), 1)


def check_document_at(value: object, depth: int) -> None:
    """:func:`check_document` of a value found ``depth`` levels down (no path in the reason:
    callers only ask whether it passes)."""
    _check(value, (), depth)


def _check(node: object, path: tuple[str | int, ...], depth: int) -> None:
    if isinstance(node, str):
        _check_text(node, path)
    elif isinstance(node, float):
        if not math.isfinite(node):
            raise Unstorable(f"{_where(path)}: must be a finite number")
    elif isinstance(node, int):
        if node.bit_length() > _MAX_INT_BITS:
            raise Unstorable(f"{_where(path)}: is too large a number")
    elif isinstance(node, dict | list):
        if depth > MAX_DEPTH:
            raise Unstorable(f"{_where(path)}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            for key, value in node.items():
                _check_text(str(key), (*path, "(a key)"))
                _check(value, (*path, str(key)), depth + 1)
        else:
            for index, value in enumerate(node):
                _check(value, (*path, index), depth + 1)


def _check_text(text: str, path: tuple[str | int, ...]) -> None:
    found = _BAD_TEXT.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise Unstorable(f"{_where(path)}: must not contain a NUL character (\\u0000)")
    raise Unstorable(f"{_where(path)}: must not contain an unpaired surrogate (not Unicode)")


def _where(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{printable(part, 60)}" if text else printable(part, 60)
    return text or "the message"


def printable(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, NUL and unpaired surrogates replaced by U+FFFD: safe
    for a ``text`` column, a Kafka header and a log line (dead letters echo what they can)."""
    text = text[:limit]
    return _BAD_TEXT.sub("\ufffd", text) if _BAD_TEXT.search(text) else text

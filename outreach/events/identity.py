"""Resident identity numbers (公民身份号码, GB 11643-1999).

An 18-character number: a 6-digit administrative area code, the birth date as ``YYYYMMDD``,
a 3-digit sequence (odd for men, even for women) and a check character computed with
ISO 7064 MOD 11-2 over the first 17 digits (``0``-``9`` or ``X`` for ten).

The 15-digit form issued before 1999 has a 2-digit year and no check digit. It is rejected with
a reason rather than converted: the contract requires the 18-character form, and a conversion
would assume the century and compute a check digit nobody verified; the sending agency holds the
current number and should send it.

Reasons never echo the number (the check-digit reason names the expected and the given check
character, nothing more): they go into dead-letter headers and logs.
"""

from __future__ import annotations

import operator
import re
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = [
    "LEGACY_REASON",
    "IdNumber",
    "IdNumberError",
    "birth_date",
    "check_digit",
    "is_valid_id_number",
    "make_id_number",
    "validate_id_number",
]

LEGACY_REASON = "15-digit legacy ID numbers are not accepted; an 18-digit ID is required"

# Weight of position i (0-based, left to right) is 2**(17 - i) mod 11.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
# Check character for (weighted sum mod 11) = 0..10.
_CHECK_CHARS = "10X98765432"
_ZERO_WEIGHTED = ord("0") * sum(_WEIGHTS)
_DIGITS17 = re.compile(r"[0-9]{17}")
_DIGITS15 = re.compile(r"[0-9]{15}")
_EARLIEST_BIRTH = date(1900, 1, 1)
_CHINA_TIME = timezone(timedelta(hours=8))


class IdNumberError(ValueError):
    """An invalid resident ID number; ``reason`` is readable and free of personal data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_digit(first17: str) -> str:
    """The GB 11643 check character (``0``-``9`` or ``X``) for the first 17 digits."""
    if not _DIGITS17.fullmatch(first17):
        raise IdNumberError("the first 17 characters must be digits")
    return _check_char(first17)


def _check_char(first17: str) -> str:
    """:func:`check_digit` of 17 ASCII digits (already checked): the weighted sum of the
    digits' byte values, less the weighted sum of ``ord("0")``, is the weighted digit sum."""
    total = sum(map(operator.mul, first17.encode("ascii"), _WEIGHTS)) - _ZERO_WEIGHTED
    return _CHECK_CHARS[total % 11]


def validate_id_number(value: object, *, today: date | None = None) -> str:
    """Return the normalised ID number (stripped, ``x`` upper-cased) or raise IdNumberError.

    ``today`` bounds the birth date from above (default: today's date in China, UTC+8).
    """
    if not isinstance(value, str):
        raise IdNumberError(
            f"ID number must be a string of 18 characters, got {type(value).__name__}"
        )
    number = value.strip().upper()
    if len(number) == 15 and _DIGITS15.fullmatch(number):
        raise IdNumberError(LEGACY_REASON)
    if len(number) != 18:
        raise IdNumberError(f"ID number must have 18 characters, got {len(number)}")
    if not _DIGITS17.fullmatch(number[:17]):
        raise IdNumberError("the first 17 characters of an ID number must be digits")
    last = number[17]
    if not (last.isascii() and (last.isdigit() or last == "X")):
        raise IdNumberError("the last character of an ID number must be a digit or X")
    _plausible_birth_date(number, today)
    expected = _check_char(number[:17])
    if last != expected:
        raise IdNumberError(f"check digit should be {expected}, got {last}")
    return number


def is_valid_id_number(value: object) -> bool:
    """True when :func:`validate_id_number` accepts the value."""
    try:
        validate_id_number(value)
    except IdNumberError:
        return False
    return True


def birth_date(number: str) -> date:
    """The birth date encoded in a (valid) 18-digit ID number."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def make_id_number(area: str, born: date, sequence: int) -> str:
    """Compose a valid ID number: 6-digit area code, birth date, 3-digit sequence, check digit.

    For fixtures and demos; an odd ``sequence`` is a man's, an even one a woman's.
    """
    if not re.fullmatch(r"[0-9]{6}", area):
        raise ValueError("area must be a 6-digit administrative area code")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be between 0 and 999")
    first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)


def _plausible_birth_date(number: str, today: date | None) -> None:
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdNumberError(
            "positions 7-14 of an ID number must be a valid birth date (YYYYMMDD)"
        ) from None
    latest = today if today is not None else datetime.now(_CHINA_TIME).date()
    if not _EARLIEST_BIRTH <= born <= latest:
        raise IdNumberError(
            "the birth date in an ID number must lie between "
            f"{_EARLIEST_BIRTH.isoformat()} and today"
        )


def _pydantic_id_number(value: Any) -> str:
    try:
        return validate_id_number(value)
    except IdNumberError as exc:
        # The error type "id_number" lets parsing tell an ID failure from other schema failures.
        raise PydanticCustomError("id_number", exc.reason) from None


IdNumber = Annotated[str, BeforeValidator(_pydantic_id_number)]
"""A validated, normalised 18-character resident ID number (pydantic field type)."""

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

import re
import time
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError, core_schema

from outreach.events.fields import JsonForm

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

# Check character for (weighted sum mod 11) = 0..10.
_CHECK_CHARS = "10X98765432"
_LAST_CHARS = "0123456789X"
_DIGITS17 = re.compile(r"[0-9]{17}")
_DIGITS15 = re.compile(r"[0-9]{15}")
_EARLIEST_BIRTH = date(1900, 1, 1)
_EARLIEST_BIRTH_TEXT = "19000101"
_CHINA_TIME = timezone(timedelta(hours=8))
# Every month and day of a leap year as MMDD ("0229" is checked against the year).
_MONTH_DAYS = frozenset(
    f"{month:02d}{day:02d}"
    for month, days in enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1)
    for day in range(1, days + 1)
)


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
    """:func:`check_digit` of 17 ASCII digits (already checked).

    The weight of digit i (0-based) is 2**(17 - i) mod 11, so the weighted sum mod 11 is
    2 * sum(d_i * 2**(16 - i)) mod 11. Since 13 = 2 (mod 11), that inner sum is congruent to the
    digits read in base 13, which ``int`` computes in C: one call instead of a Python loop.
    """
    return _CHECK_CHARS[2 * int(first17, 13) % 11]


def validate_id_number(value: object, *, today: date | None = None) -> str:
    """Return the normalised ID number (stripped, ``x`` upper-cased) or raise IdNumberError.

    ``today`` bounds the birth date from above (default: today's date in China, UTC+8).
    """
    if not isinstance(value, str):
        raise IdNumberError(
            f"ID number must be a string of 18 characters, got {type(value).__name__}"
        )
    number = value.strip().upper()
    if len(number) != 18:
        if len(number) == 15 and _DIGITS15.fullmatch(number):
            raise IdNumberError(LEGACY_REASON)
        raise IdNumberError(f"ID number must have 18 characters, got {len(number)}")
    first17 = number[:17]
    # Same as the regex [0-9]{17}: str.isdigit alone would take other Unicode digits too.
    if not (first17.isascii() and first17.isdigit()):
        raise IdNumberError("the first 17 characters of an ID number must be digits")
    last = number[17]
    if last not in _LAST_CHARS:
        raise IdNumberError("the last character of an ID number must be a digit or X")
    problem = _birth_date_problem(number[6:14], today)
    if problem is not None:
        raise IdNumberError(problem)
    expected = _check_char(first17)
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


def _birth_date_problem(born: str, today: date | None) -> str | None:
    """What is wrong with birth date ``YYYYMMDD`` (8 ASCII digits), or None.

    Checked as text: per ID number, building a ``date`` and asking the clock cost more than the
    rest of the validation together. Fixed-width digit strings compare in date order.
    """
    month_day = born[4:]
    if (
        month_day not in _MONTH_DAYS
        or born.startswith("0000")  # date() takes years 1-9999
        or (month_day == "0229" and not _is_leap_year(int(born[:4])))
    ):
        return "positions 7-14 of an ID number must be a valid birth date (YYYYMMDD)"
    latest = _today_in_china() if today is None else _date_text(today)
    if not _EARLIEST_BIRTH_TEXT <= born <= latest:
        return (
            "the birth date in an ID number must lie between "
            f"{_EARLIEST_BIRTH.isoformat()} and today"
        )
    return None


def _is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _date_text(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


_china_day = (0.0, 0.0, "")
"""The day :func:`_today_in_china` last computed: start, end (epoch seconds), ``YYYYMMDD``."""


def _today_in_china() -> str:
    """Today's date in China (UTC+8, no daylight saving) as ``YYYYMMDD``. Recomputed only when
    the clock leaves the day last computed: a float comparison per ID number instead of building
    a datetime. The state is one tuple, replaced whole, so threads never see half of it."""
    global _china_day
    now = time.time()
    start, end, text = _china_day
    if not start <= now < end:
        day = datetime.fromtimestamp(now, _CHINA_TIME).date()
        start = datetime(day.year, day.month, day.day, tzinfo=_CHINA_TIME).timestamp()
        text = _date_text(day)
        _china_day = (start, start + 86_400, text)
    return text


def _pydantic_id_number(value: Any) -> str:
    try:
        return validate_id_number(value)
    except IdNumberError as exc:
        # The error type "id_number" lets parsing tell an ID failure from other schema failures.
        raise PydanticCustomError("id_number", exc.reason) from None


def _shaped_id_number(number: str) -> str:
    """:func:`validate_id_number` of JSON input whose shape pydantic-core has checked (stripped,
    upper-cased, 17 ASCII digits and a digit or X): the birth date and the check digit."""
    if _birth_date_problem(number[6:14], None) is None and number[17] == _check_char(number[:17]):
        return number
    return _pydantic_id_number(number)  # raises, with the reason


IdNumber = Annotated[
    str,
    BeforeValidator(_pydantic_id_number),
    # JSON: the shape in pydantic-core, the rest in Python (a third less Python per number).
    # The pattern leaves nothing that str.strip() and str.upper() would treat differently.
    JsonForm(
        core_schema.no_info_after_validator_function(
            _shaped_id_number,
            core_schema.str_schema(
                strip_whitespace=True, to_upper=True, pattern=r"^[0-9]{17}[0-9Xx]$"
            ),
        )
    ),
]
"""A validated, normalised 18-character resident ID number (pydantic field type)."""

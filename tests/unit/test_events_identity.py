"""Resident ID numbers: GB 11643 structure, check digit, legacy form, readable reasons."""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from outreach.events import identity
from outreach.events.identity import (
    LEGACY_REASON,
    IdNumberError,
    birth_date,
    check_digit,
    is_valid_id_number,
    make_id_number,
    validate_id_number,
)

# Yongding district (430802), born 1968-04-23, sequence 031: check digit 6.
VALID = "430802196804230316"
# Yongding district, born 1975-09-12, sequence 008: check digit X.
VALID_X = "43080219750912008X"
# The same digits in full width (U+FF10..U+FF19): Unicode digits, not ASCII ones.
FULLWIDTH = "".join(chr(0xFF10 + int(d)) for d in VALID)


def reason_for(value: object, **kwargs: date) -> str:
    with pytest.raises(IdNumberError) as caught:
        validate_id_number(value, **kwargs)
    return caught.value.reason


def test_check_digit_matches_the_standard_example() -> None:
    # The worked example of GB 11643-1999.
    assert check_digit("11010519491231002") == "X"
    assert check_digit("43080219680423031") == "6"


def test_valid_numbers_are_accepted_and_normalised() -> None:
    assert validate_id_number(VALID) == VALID
    assert validate_id_number(VALID_X) == VALID_X
    assert validate_id_number(VALID_X.lower()) == VALID_X  # trailing x upper-cased
    assert validate_id_number(f"  {VALID}\n") == VALID
    assert is_valid_id_number(VALID_X)


def test_make_id_number_builds_valid_numbers() -> None:
    number = make_id_number("430802", date(1968, 4, 23), 31)
    assert number == VALID
    assert make_id_number("430802", date(1975, 9, 12), 8) == VALID_X
    assert birth_date(number) == date(1968, 4, 23)
    with pytest.raises(ValueError):
        make_id_number("4308", date(1968, 4, 23), 31)
    with pytest.raises(ValueError):
        make_id_number("430802", date(1968, 4, 23), 1000)


def test_legacy_15_digit_form_is_rejected_with_its_reason() -> None:
    assert reason_for("430802680423031") == LEGACY_REASON
    assert LEGACY_REASON == (
        "15-digit legacy ID numbers are not accepted; an 18-digit ID is required"
    )


def test_wrong_check_digit_names_expected_and_given() -> None:
    assert reason_for(VALID[:17] + "3") == "check digit should be 6, got 3"
    assert reason_for(VALID_X[:17] + "0") == "check digit should be X, got 0"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (VALID[:17], "ID number must have 18 characters, got 17"),
        (VALID + "1", "ID number must have 18 characters, got 19"),
        ("", "ID number must have 18 characters, got 0"),
        ("4308021968O4230316", "the first 17 characters of an ID number must be digits"),
        (FULLWIDTH, "the first 17 characters of an ID number must be digits"),
        (VALID[:17] + "Y", "the last character of an ID number must be a digit or X"),
        (430802196804230316, "ID number must be a string of 18 characters, got int"),
        (None, "ID number must be a string of 18 characters, got NoneType"),
    ],
)
def test_malformed_numbers_have_readable_reasons(value: object, reason: str) -> None:
    assert reason_for(value) == reason


def test_impossible_birth_dates_are_rejected() -> None:
    feb_30 = "430802" + "19900230" + "012"
    assert reason_for(feb_30 + check_digit(feb_30)) == (
        "positions 7-14 of an ID number must be a valid birth date (YYYYMMDD)"
    )
    too_old = make_id_number("430802", date(1899, 12, 31), 12)
    assert "between 1900-01-01 and today" in reason_for(too_old)
    unborn = make_id_number("430802", date(2024, 3, 2), 12)
    assert "between 1900-01-01 and today" in reason_for(unborn, today=date(2024, 3, 1))
    assert validate_id_number(unborn, today=date(2024, 3, 2)) == unborn


def test_reasons_never_contain_the_number() -> None:
    for bad in (VALID[:17] + "3", VALID[:17], "430802680423031", VALID[:17] + "Y"):
        assert bad not in reason_for(bad)
        assert VALID[:14] not in reason_for(bad)


def test_check_digit_matches_the_iso_7064_definition() -> None:
    rng = random.Random(11643)
    for _ in range(2000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
        assert check_digit(first17) == "10X98765432"[total % 11]


def _date_rule(born: str, today: date) -> str | None:
    """The birth-date rule as first written, with date(): the reason, or None when valid."""
    try:
        day = date(int(born[:4]), int(born[4:6]), int(born[6:]))
    except ValueError:
        return "positions 7-14 of an ID number must be a valid birth date (YYYYMMDD)"
    if not date(1900, 1, 1) <= day <= today:
        return "the birth date in an ID number must lie between 1900-01-01 and today"
    return None


def test_birth_dates_are_judged_as_with_date_objects() -> None:
    """The birth date is checked as text (no date() per ID number); same verdict, same reason."""
    today = date(2024, 3, 1)
    years = ["0000", "0001", "1899", "1900", "1904", "1999", "2000", "2023", "2024", "2025"]
    years += ["2100", "9999"]
    days = [f"{d:02d}" for d in range(0, 33)]
    for year in years:
        for month in [f"{m:02d}" for m in range(0, 14)] + ["99"]:
            for day in days:
                first17 = f"430802{year}{month}{day}031"
                number = first17 + check_digit(first17)
                expected = _date_rule(f"{year}{month}{day}", today)
                if expected is None:
                    assert validate_id_number(number, today=today) == number
                else:
                    assert reason_for(number, today=today) == expected


def test_today_follows_the_clock_in_china(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's date is cached for the day it was computed for, and only for that day."""
    midnight_in_china = datetime(2024, 3, 2, tzinfo=timezone(timedelta(hours=8))).timestamp()
    born_on_2_march = make_id_number("430802", date(2024, 3, 2), 12)
    clock = [midnight_in_china - 0.001]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    assert "and today" in reason_for(born_on_2_march)  # still 1 March in China
    clock[0] = midnight_in_china
    assert validate_id_number(born_on_2_march) == born_on_2_march
    clock[0] = midnight_in_china - 3600  # the clock went back
    assert "and today" in reason_for(born_on_2_march)
    monkeypatch.undo()
    before = datetime.now(timezone(timedelta(hours=8))).date()
    got = identity._today_in_china()
    after = datetime.now(timezone(timedelta(hours=8))).date()
    assert got in {f"{before:%Y%m%d}", f"{after:%Y%m%d}"}

"""ISO 8601 durations for the case timers."""

from datetime import timedelta

import pytest

from outreach.policy.durations import (
    Durations,
    DurationSyntaxError,
    format_duration,
    parse_duration,
    seconds_to_timedelta,
    timedelta_to_seconds,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P3D", timedelta(days=3)),
        ("P7D", timedelta(days=7)),
        ("PT10S", timedelta(seconds=10)),
        ("PT30S", timedelta(seconds=30)),
        ("PT5M", timedelta(minutes=5)),
        ("PT2H", timedelta(hours=2)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P1W2DT3H4M5S", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("PT1.5S", timedelta(seconds=1, milliseconds=500)),
        ("PT0,25S", timedelta(milliseconds=250)),
        ("P0.5D", timedelta(hours=12)),
        (" pt5s ", timedelta(seconds=5)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "P", "PT", "P1DT", "3D", "P1Y", "P2M", "P1Y2M3D", "P-1D", "PT1H30", "P1D2W", "1 day"],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(DurationSyntaxError, match="unsupported ISO 8601 duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(days=3), "P3D"),
        (timedelta(seconds=10), "PT10S"),
        (timedelta(days=1, hours=2), "P1DT2H"),
        (timedelta(hours=1, minutes=2, seconds=3, microseconds=500000), "PT1H2M3.5S"),
    ],
)
def test_format_duration(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected
    assert parse_duration(expected) == value


def test_format_duration_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


def test_seconds_round_trip() -> None:
    value = timedelta(days=2, seconds=7, microseconds=1)
    assert seconds_to_timedelta(timedelta_to_seconds(value)) == value


def test_durations_to_dict() -> None:
    durations = Durations(
        reminder_interval=timedelta(seconds=10),
        visit_sla=timedelta(seconds=30),
        publicity=timedelta(days=7),
        max_reminders=2,
    )
    assert durations.to_dict() == {
        "reminder_interval": "PT10S",
        "visit_sla": "PT30S",
        "publicity": "P7D",
        "max_reminders": 2,
    }

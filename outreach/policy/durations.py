"""ISO 8601 durations for the case timers, and the timer settings in force on a date.

Supported: weeks, days, hours, minutes and seconds in any combination, with an optional
decimal fraction (``P3D``, ``PT10S``, ``P1W``, ``P1DT2H``, ``PT1.5S``, ``P1W2D``).
Years and months are rejected: they have no fixed length. Values are kept to the microsecond.

Defaults (see :mod:`outreach.policy.defaults`): reminder_interval P3D, visit_sla P7D,
publicity P7D, max_reminders 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from outreach.policy.trace import JSONValue

__all__ = [
    "DurationSyntaxError",
    "Durations",
    "format_duration",
    "parse_duration",
    "seconds_to_timedelta",
    "timedelta_to_seconds",
]

_NUMBER = r"\d+(?:[.,]\d+)?"
_PATTERN = re.compile(
    rf"P(?:(?P<weeks>{_NUMBER})W)?(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?"
)
_SECONDS_PER = {
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}
_MICRO = Decimal("0.000001")


class DurationSyntaxError(ValueError):
    """A string that is not a supported ISO 8601 duration."""


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration such as ``P3D``, ``PT10S`` or ``P1DT2H``."""
    candidate = text.strip().upper()
    match = _PATTERN.fullmatch(candidate)
    if (
        match is None
        or candidate.endswith("T")
        or all(v is None for v in match.groupdict().values())
    ):
        raise DurationSyntaxError(
            f"unsupported ISO 8601 duration {text!r}: expected e.g. P3D, PT10S, P1W, P1DT2H"
            " (weeks, days, hours, minutes, seconds; years and months are not supported)"
        )
    seconds = Decimal(0)
    for unit, amount in match.groupdict().items():
        if amount is not None:
            seconds += Decimal(amount.replace(",", ".")) * _SECONDS_PER[unit]
    return seconds_to_timedelta(seconds)


def timedelta_to_seconds(value: timedelta) -> Decimal:
    """Exact number of seconds in ``value``."""
    whole = value.days * 86400 + value.seconds
    return Decimal(whole) + Decimal(value.microseconds) * _MICRO


def seconds_to_timedelta(seconds: Decimal) -> timedelta:
    """A timedelta of ``seconds`` (rounded to the microsecond)."""
    micros = int(seconds.scaleb(6).to_integral_value(rounding=ROUND_HALF_UP))
    return timedelta(microseconds=micros)


def format_duration(value: timedelta) -> str:
    """ISO 8601 form of a non-negative timedelta, in days and time (``P1DT2H``, ``PT10S``)."""
    if value < timedelta(0):
        raise ValueError(f"negative duration {value!r}")
    days = value.days
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    out = "P"
    if days:
        out += f"{days}D"
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if seconds or value.microseconds:
        if value.microseconds:
            fraction = f"{value.microseconds:06d}".rstrip("0")
            time += f"{seconds}.{fraction}S"
        else:
            time += f"{seconds}S"
    if time:
        out += "T" + time
    return out if out != "P" else "PT0S"


@dataclass(frozen=True)
class Durations:
    """The case timers in force on a date (for a district).

    ``reminder_interval``: time between reminders while no visit has reached the household;
    ``max_reminders``: reminders before escalating; ``visit_sla``: time for the home visit
    before escalating to a supervisor; ``publicity``: length of the publicity (公示) period.
    """

    reminder_interval: timedelta
    visit_sla: timedelta
    publicity: timedelta
    max_reminders: int

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "reminder_interval": format_duration(self.reminder_interval),
            "visit_sla": format_duration(self.visit_sla),
            "publicity": format_duration(self.publicity),
            "max_reminders": self.max_reminders,
        }

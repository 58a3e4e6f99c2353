"""Policy parameters: values with effective dates and per-district overrides.

Like OpenFisca parameters, each parameter is a schedule of periods. A period starts on its
``effective_from`` date and lasts until the next period starts; it holds a ``default`` value and
optional per-district values keyed by lower-case pinyin district name. A lookup on a date uses the
latest period that started on or before that date, then the district's value if that period has
one, else the period's default (an override does not carry over into later periods).

Durations (the case timers) are parameters too, stored in seconds, with ``max_reminders`` a count.
Everything here is pure: no I/O, no clock; the loader (:mod:`outreach.policy.loader`) builds a
:class:`PolicyParameters` from a file.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from outreach.policy.circumstances import normalise_district
from outreach.policy.durations import Durations, format_duration, seconds_to_timedelta
from outreach.policy.trace import JSONValue, ParameterUsed

__all__ = [
    "ALWAYS",
    "DURATION_NAMES",
    "Parameter",
    "ParameterNotInForceError",
    "ParameterPeriod",
    "PolicyLookupError",
    "PolicyParameters",
    "UnknownParameterError",
]

ALWAYS = date.min
"""Effective date of a flat value (one given without an effective date): in force on any date."""

DURATION_NAMES = ("reminder_interval", "visit_sla", "publicity", "max_reminders")


class PolicyLookupError(LookupError):
    """A parameter could not be looked up."""


class UnknownParameterError(PolicyLookupError, KeyError):
    """No parameter has this name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ParameterNotInForceError(PolicyLookupError):
    """The parameter has no value in force on the requested date."""


@dataclass(frozen=True)
class ParameterPeriod:
    """The value of a parameter from ``effective_from`` until the next period starts."""

    effective_from: date
    default: Decimal
    districts: dict[str, Decimal] = field(default_factory=dict)

    def value_for(self, district: str) -> tuple[Decimal, str]:
        """The value for ``district`` and the key it came from (the district or ``"default"``)."""
        key = normalise_district(district)
        if key and key in self.districts:
            return self.districts[key], key
        return self.default, "default"

    def to_dict(self, fmt: Callable[[Decimal], JSONValue] = str) -> JSONValue:
        """The value, or a ``default`` + districts table, each formatted with ``fmt``."""
        if not self.districts:
            return fmt(self.default)
        out: dict[str, JSONValue] = {"default": fmt(self.default)}
        out.update({key: fmt(value) for key, value in sorted(self.districts.items())})
        return out


@dataclass(frozen=True)
class Parameter:
    """A named parameter: unit, description and its periods in ascending date order."""

    name: str
    unit: str
    description: str
    periods: tuple[ParameterPeriod, ...]

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError(f"parameter {self.name!r} has no values")
        dates = [period.effective_from for period in self.periods]
        if dates != sorted(set(dates)):
            raise ValueError(f"parameter {self.name!r}: periods must have distinct ascending dates")

    def period_at(self, on: date) -> ParameterPeriod:
        """The period in force on ``on``."""
        index = bisect.bisect_right([period.effective_from for period in self.periods], on) - 1
        if index < 0:
            raise ParameterNotInForceError(
                f"parameter {self.name!r} has no value in force on {on.isoformat()}"
                f" (first effective date {self.periods[0].effective_from.isoformat()})"
            )
        return self.periods[index]

    def used(self, on: date, district: str = "") -> ParameterUsed:
        """The value in force on ``on`` for ``district``, as recorded in a decision trace."""
        period = self.period_at(on)
        value, applies_to = period.value_for(district)
        return ParameterUsed(
            name=self.name,
            value=value,
            unit=self.unit,
            effective_from=period.effective_from,
            applies_to=applies_to,
        )

    def to_dict(self, fmt: Callable[[Decimal], JSONValue] = str) -> dict[str, JSONValue]:
        """Effective-date keys (ISO) to values, the shape of the policy file."""
        return {p.effective_from.isoformat(): p.to_dict(fmt) for p in self.periods}


@dataclass(frozen=True)
class PolicyParameters:
    """All policy parameters: the eligibility parameters and the case durations.

    Build it with :func:`outreach.policy.loader.load_policy` (defaults merged with a file) or use
    :data:`outreach.policy.defaults.DEFAULT_POLICY`.
    """

    parameters: dict[str, Parameter]
    durations: dict[str, Parameter]

    def __post_init__(self) -> None:
        missing = [name for name in DURATION_NAMES if name not in self.durations]
        if missing:
            raise ValueError(f"durations missing: {', '.join(missing)}")
        clash = set(self.parameters) & set(self.durations)
        if clash:
            raise ValueError(f"names used both as parameter and duration: {sorted(clash)}")

    def parameter(self, name: str) -> Parameter:
        """The parameter (or duration) called ``name``."""
        found = self.parameters.get(name) or self.durations.get(name)
        if found is None:
            raise UnknownParameterError(f"unknown policy parameter {name!r}")
        return found

    def used(self, name: str, on: date, district: str = "") -> ParameterUsed:
        """Value, unit, effective date and district key of ``name`` on ``on``, for a trace."""
        return self.parameter(name).used(on, district)

    def value_at(self, name: str, on: date, district: str = "") -> tuple[Decimal, date]:
        """The value of ``name`` in force on ``on`` for ``district`` and its effective date.

        Durations are returned in seconds; use :meth:`durations_at` for timedeltas.
        """
        used = self.used(name, on, district)
        return used.value, used.effective_from

    def durations_at(self, on: date, district: str = "") -> Durations:
        """The case timers in force on ``on`` for ``district``."""

        def seconds(name: str) -> Decimal:
            return self.durations[name].used(on, district).value

        return Durations(
            reminder_interval=seconds_to_timedelta(seconds("reminder_interval")),
            visit_sla=seconds_to_timedelta(seconds("visit_sla")),
            publicity=seconds_to_timedelta(seconds("publicity")),
            max_reminders=int(seconds("max_reminders")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-safe dump in the shape of the policy file (durations as ISO 8601 strings)."""
        out: dict[str, JSONValue] = {
            name: parameter.to_dict() for name, parameter in sorted(self.parameters.items())
        }
        out["durations"] = {
            name: parameter.to_dict(_count if name == "max_reminders" else _iso_duration)
            for name, parameter in self.durations.items()
        }
        return out


def _count(value: Decimal) -> JSONValue:
    return int(value)


def _iso_duration(seconds: Decimal) -> JSONValue:
    return format_duration(seconds_to_timedelta(seconds))

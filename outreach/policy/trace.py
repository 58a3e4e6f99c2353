"""The decision trace: which rule was checked, with which numbers and parameter values.

Every rule a decision evaluates leaves one :class:`RuleCheck`. The parameter values it used are
recorded as :class:`ParameterUsed` with the date from which that value is in force and the
district key it came from, so a published decision can be audited against the policy of its day.
``to_dict()`` gives JSON-safe dicts (Decimals as strings, dates ISO) for events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeAlias

__all__ = [
    "InputValue",
    "JSONValue",
    "ParameterUsed",
    "RuleCheck",
    "json_value",
    "trace_to_dicts",
]

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None

InputValue: TypeAlias = Decimal | int | bool | str | date | tuple[str, ...] | None
"""A number, flag or label a rule read from the household's circumstances (or derived from them)."""


def json_value(value: InputValue) -> JSONValue:
    """JSON-safe form of a trace input: Decimal -> str, date -> ISO string, tuple -> list."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class ParameterUsed:
    """One parameter value a rule used.

    ``applies_to`` is the district key the value came from, or ``"default"``.
    ``effective_from`` is the start of the period in force on the decision date
    (``0001-01-01`` for a flat value that has no effective date).
    """

    name: str
    value: Decimal
    unit: str
    effective_from: date
    applies_to: str = "default"

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "name": self.name,
            "value": str(self.value),
            "unit": self.unit,
            "effective_from": self.effective_from.isoformat(),
            "applies_to": self.applies_to,
        }


@dataclass(frozen=True)
class RuleCheck:
    """The outcome of one rule: passed or not, the inputs and parameters it used, and why."""

    rule: str
    programme: str
    passed: bool
    explanation: str
    inputs: dict[str, InputValue] = field(default_factory=dict)
    parameters: tuple[ParameterUsed, ...] = ()

    def parameter(self, name: str) -> ParameterUsed:
        """The parameter ``name`` as used by this rule (KeyError if it used no such parameter)."""
        for used in self.parameters:
            if used.name == name:
                return used
        raise KeyError(f"rule {self.rule} used no parameter {name!r}")

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "rule": self.rule,
            "programme": self.programme,
            "passed": self.passed,
            "inputs": {key: json_value(value) for key, value in self.inputs.items()},
            "parameters": [used.to_dict() for used in self.parameters],
            "explanation": self.explanation,
        }


def trace_to_dicts(trace: tuple[RuleCheck, ...] | list[RuleCheck]) -> list[JSONValue]:
    """A whole trace as a JSON-safe list."""
    return [check.to_dict() for check in trace]

"""Read a policy file (TOML, CONTRACT.md "Policy file") and merge it over the defaults.

This is the only module in :mod:`outreach.policy` that does I/O; it reads no environment
variables (the settings module owns ``OUTREACH_POLICY`` and passes the path in).

Format::

    [urban_dibao_standard]            # a parameter: a table keyed by effective date
    "2022-01-01" = 620
    "2023-01-01" = 650
    [rural_dibao_standard]            # a value may be a table with default + districts
    "2023-01-01" = { default = 5000, yongding = 5300, wulingyuan = 5300 }
    medical_out_of_pocket_trigger = 10000   # (top level) a flat value: in force at any date
    [durations]                       # ISO 8601 durations, and the integer max_reminders
    publicity = "PT5S"                # flat
    visit_sla = { "2024-01-01" = "P5D" }    # or keyed by effective date

Merge rules: a schedule keyed by dates is merged into the default schedule date by date (a
period in the file replaces the default period starting on the same date, including its district
table, and other dates are added); a flat value replaces the whole schedule. Parameters the
file does not name keep their defaults.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from outreach.policy.defaults import DEFAULT_POLICY, DURATION_SPECS, PARAMETER_SPECS, ParameterSpec
from outreach.policy.durations import DurationSyntaxError, parse_duration, timedelta_to_seconds
from outreach.policy.parameters import ALWAYS, Parameter, ParameterPeriod, PolicyParameters

__all__ = ["PolicyFileError", "load_policy", "merge_policy", "parse_policy"]

_DATE_KEY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DISTRICT_KEY = re.compile(r"[a-z][a-z0-9_]*")


class PolicyFileError(ValueError):
    """The policy file is unreadable or invalid; names the file and the parameter at fault."""

    def __init__(self, source: str, message: str, parameter: str | None = None) -> None:
        self.source = source
        self.parameter = parameter
        self.message = message
        where = f"{source}: parameter {parameter!r}" if parameter else source
        super().__init__(f"{where}: {message}")


def load_policy(path: Path | None, base: PolicyParameters = DEFAULT_POLICY) -> PolicyParameters:
    """The policy: ``base`` (the built-in defaults) merged with the TOML file at ``path``.

    ``None`` means no file: the defaults are returned unchanged.
    """
    if path is None:
        return base
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(str(path), f"cannot read policy file: {exc}") from exc
    return parse_policy(text, source=str(path), base=base)


def parse_policy(
    text: str, *, source: str = "<policy>", base: PolicyParameters = DEFAULT_POLICY
) -> PolicyParameters:
    """Parse TOML policy text and merge it over ``base``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(source, f"invalid TOML: {exc}") from exc
    return merge_policy(data, source=source, base=base)


def merge_policy(
    data: Mapping[str, object],
    *,
    source: str = "<policy>",
    base: PolicyParameters = DEFAULT_POLICY,
) -> PolicyParameters:
    """Merge already-parsed policy data (the TOML document as a mapping) over ``base``."""
    parameters = dict(base.parameters)
    durations = dict(base.durations)
    for name, raw in data.items():
        if name == "durations":
            if not isinstance(raw, Mapping):
                raise PolicyFileError(source, "[durations] must be a table", "durations")
            for duration_name, duration_raw in raw.items():
                spec = DURATION_SPECS.get(duration_name)
                if spec is None:
                    raise PolicyFileError(
                        source,
                        f"unknown duration (known: {', '.join(DURATION_SPECS)})",
                        f"durations.{duration_name}",
                    )
                durations[duration_name] = _merge(
                    durations[duration_name], spec, duration_raw, source
                )
            continue
        spec = PARAMETER_SPECS.get(name)
        if spec is None:
            hint = " (durations belong in the [durations] table)" if name in DURATION_SPECS else ""
            raise PolicyFileError(
                source,
                f"unknown parameter{hint} (known: {', '.join(PARAMETER_SPECS)}, durations)",
                name,
            )
        parameters[name] = _merge(parameters[name], spec, raw, source)
    return PolicyParameters(parameters=parameters, durations=durations)


def _label(spec: ParameterSpec) -> str:
    return f"durations.{spec.name}" if spec.name in DURATION_SPECS else spec.name


def _merge(current: Parameter, spec: ParameterSpec, raw: object, source: str) -> Parameter:
    """``current`` with the file's value(s) for it applied."""
    if isinstance(raw, Mapping) and not raw:
        raise PolicyFileError(
            source, "empty table: give values keyed by effective date", _label(spec)
        )
    if isinstance(raw, Mapping) and raw and "default" not in raw:
        periods = {period.effective_from: period for period in current.periods}
        for key, value in raw.items():
            effective_from = _effective_date(key, spec, source)
            periods[effective_from] = _period(effective_from, value, spec, source)
        return replace(current, periods=tuple(periods[day] for day in sorted(periods)))
    # A flat value (a number/string, or a default + districts table): in force at any date.
    return replace(current, periods=(_period(ALWAYS, raw, spec, source),))


def _effective_date(key: str, spec: ParameterSpec, source: str) -> date:
    if _DATE_KEY.fullmatch(key):
        try:
            return date.fromisoformat(key)
        except ValueError:
            pass
    raise PolicyFileError(
        source,
        f"bad effective date key {key!r} (expected YYYY-MM-DD, or a district table with 'default')",
        _label(spec),
    )


def _period(effective_from: date, raw: object, spec: ParameterSpec, source: str) -> ParameterPeriod:
    when = "" if effective_from == ALWAYS else f" on {effective_from.isoformat()}"
    if isinstance(raw, Mapping):
        if "default" not in raw:
            raise PolicyFileError(
                source, f"district table{when} has no 'default' value", _label(spec)
            )
        districts: dict[str, Decimal] = {}
        for key, value in raw.items():
            if key == "default":
                continue
            if not _DISTRICT_KEY.fullmatch(key):
                raise PolicyFileError(
                    source,
                    f"bad district key {key!r}{when} (expected lower-case pinyin, e.g. yongding)",
                    _label(spec),
                )
            districts[key] = _value(value, spec, source, f"{when} for {key}")
        return ParameterPeriod(
            effective_from, _value(raw["default"], spec, source, when), districts
        )
    return ParameterPeriod(effective_from, _value(raw, spec, source, when))


def _value(raw: object, spec: ParameterSpec, source: str, where: str) -> Decimal:
    def fail(message: str) -> PolicyFileError:
        return PolicyFileError(source, f"value{where} {message}, got {raw!r}", _label(spec))

    if spec.kind == "duration":
        if not isinstance(raw, str):
            raise fail('must be an ISO 8601 duration string such as "P3D" or "PT10S"')
        try:
            seconds = timedelta_to_seconds(parse_duration(raw))
        except DurationSyntaxError as exc:
            raise PolicyFileError(source, f"value{where}: {exc}", _label(spec)) from exc
        if seconds <= 0:
            raise fail("must be positive")
        return seconds
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise fail("must be a number")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise fail("must be a finite number")
    if spec.kind == "count" and not isinstance(raw, int):
        raise fail("must be a whole number")
    if raw < 0:
        raise fail("must not be negative")
    # str() first so that 0.1 becomes Decimal("0.1"), not the binary float's expansion.
    return Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw)

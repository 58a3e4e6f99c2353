"""Policy: parameters with effective dates and pure eligibility rules (rules as code).

- :mod:`~outreach.policy.parameters`: parameter schedules, per-district values, lookups.
- :mod:`~outreach.policy.defaults`: the built-in values (seed figures, documented choices).
- :mod:`~outreach.policy.loader`: the TOML policy file merged over the defaults (the only I/O).
- :mod:`~outreach.policy.durations`: ISO 8601 durations and the case timers.
- :mod:`~outreach.policy.circumstances`: the household facts the rules read.
- :mod:`~outreach.policy.rules`: one ``assess_*`` function per programme.
- :mod:`~outreach.policy.decision`: :func:`decide`, all programmes with the trace.

Everything except the loader is pure and deterministic, usable inside a Temporal workflow::

    params = load_policy(settings.policy_path)          # at start-up, outside the workflow
    decision = decide(circumstances, on=date(2023, 7, 1), params=params)
    decision.award("dibao").monthly_amount              # Decimal("2600.00")
    decision.trace_to_dicts()                           # JSON-safe, for events
"""

from outreach.policy.circumstances import (
    Assets,
    DisabilityCategory,
    DisabilityCertificate,
    HouseholdCircumstances,
    LaborCapacity,
    normalise_district,
)
from outreach.policy.decision import Decision, assess_all, decide
from outreach.policy.defaults import DEFAULT_POLICY
from outreach.policy.durations import (
    Durations,
    DurationSyntaxError,
    format_duration,
    parse_duration,
)
from outreach.policy.loader import PolicyFileError, load_policy, parse_policy
from outreach.policy.parameters import (
    Parameter,
    ParameterNotInForceError,
    ParameterPeriod,
    PolicyLookupError,
    PolicyParameters,
    UnknownParameterError,
)
from outreach.policy.programmes import Programme, ProgrammeAssessment, ProgrammeAward
from outreach.policy.rules import (
    assess_dibao,
    assess_disability_living_subsidy,
    assess_disability_nursing_subsidy,
    assess_tekun,
    assess_temporary_assistance,
    is_severe_disability,
)
from outreach.policy.trace import ParameterUsed, RuleCheck, trace_to_dicts

__all__ = [
    "DEFAULT_POLICY",
    "Assets",
    "Decision",
    "DisabilityCategory",
    "DisabilityCertificate",
    "DurationSyntaxError",
    "Durations",
    "HouseholdCircumstances",
    "LaborCapacity",
    "Parameter",
    "ParameterNotInForceError",
    "ParameterPeriod",
    "ParameterUsed",
    "PolicyFileError",
    "PolicyLookupError",
    "PolicyParameters",
    "Programme",
    "ProgrammeAssessment",
    "ProgrammeAward",
    "RuleCheck",
    "UnknownParameterError",
    "assess_all",
    "assess_dibao",
    "assess_disability_living_subsidy",
    "assess_disability_nursing_subsidy",
    "assess_tekun",
    "assess_temporary_assistance",
    "decide",
    "format_duration",
    "is_severe_disability",
    "load_policy",
    "normalise_district",
    "parse_duration",
    "parse_policy",
    "trace_to_dicts",
]

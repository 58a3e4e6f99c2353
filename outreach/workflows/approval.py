"""When a decision needs a supervisor's approval before its publicity period.

The rule: **every means-tested award needs approval**: dibao, tekun, temporary assistance and
the disability living subsidy all rest on the income and assets a caseworker verified, so a
supervisor checks that verification before the award is made public. The severe-disability
nursing subsidy depends only on the certificate an agency issued (no means test), so a decision
awarding nothing else goes straight to publicity. Negative decisions need no approval: the
case closes ``not_eligible`` with the trace, and a new trigger can open a new case.

A rejected approval sends the case back to verification (a new visit task).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from outreach.policy.programmes import Programme
from outreach.workflows.case_data import AwardLine

__all__ = ["MEANS_TESTED", "ApprovalRule", "approval_rule"]

MEANS_TESTED: Final = frozenset(
    {
        Programme.DIBAO.value,
        Programme.TEKUN.value,
        Programme.TEMPORARY_ASSISTANCE.value,
        Programme.DISABILITY_LIVING_SUBSIDY.value,
    }
)


@dataclass(frozen=True)
class ApprovalRule:
    required: bool
    reason: str


def approval_rule(awards: Sequence[AwardLine]) -> ApprovalRule:
    """Whether these awards need a supervisor's approval, and why (recorded with the case)."""
    means_tested = [a.programme for a in awards if a.programme in MEANS_TESTED]
    if means_tested:
        return ApprovalRule(
            True,
            "means-tested award(s) " + ", ".join(means_tested) + " rest on verified income and"
            " assets: a supervisor approves before publicity",
        )
    names = ", ".join(a.programme for a in awards) or "none"
    return ApprovalRule(False, f"certificate-based award(s) only ({names}): no approval needed")

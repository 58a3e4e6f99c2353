"""Everything a running case knows: carried from one run to the next on continue-as-new.

Mutable dataclasses, owned by the ``OutreachCase`` workflow instance and changed only by its
main loop; handlers only queue input. Deadlines are absolute times (not durations), so a case
that continues as new waits exactly as long as it had left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from outreach.workflows.case_contract import (
    Approval,
    CaseStart,
    Objection,
    Stage,
    Trigger,
    UpdateAck,
    VisitResult,
    Withdrawal,
)
from outreach.workflows.case_data import Assessment, CasePolicy, EconomicCheck, HouseholdFacts

__all__ = ["CaseInput", "CaseResume", "CaseState", "Decided", "OpenTask", "Pending"]


@dataclass
class OpenTask:
    """The case's open home-visit task (``kind`` visit: first contact; reverify: again after
    an objection or a rejected approval). ``number`` counts every task of the case."""

    task_id: str
    kind: str
    attempt: int
    number: int
    created_at: datetime
    due_at: datetime
    overdue: bool = False


@dataclass
class Decided:
    """The decision in force and where it stands."""

    assessment: Assessment
    approval_required: bool
    approval_reason: str
    approved_by: str | None = None


@dataclass
class CaseState:
    case_id: str
    household_key: str
    district: str
    urban: bool
    stage: Stage = Stage.SCREENING
    opened_at: datetime | None = None
    policy: CasePolicy | None = None
    facts: HouseholdFacts | None = None
    # Triggers: every accepted one (ids in arrival order, for dedupe and TRIGGERS_QUERY), the
    # ones not yet recorded as joined, and those that arrived after the decision.
    triggers: list[Trigger] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    programmes: tuple[str, ...] = ()
    # Reaching the household.
    reminders_sent: int = 0
    next_reminder_at: datetime | None = None
    reminders_exhausted: bool = False
    reached: bool = False
    tasks_opened: int = 0
    failed_attempts: int = 0
    task: OpenTask | None = None
    # Verification and decision.
    visit: VisitResult | None = None
    check: EconomicCheck | None = None
    decisions: int = 0
    decided: Decided | None = None
    # Publicity.
    publicity_rounds: int = 0
    publicity_ends_at: datetime | None = None
    objections: list[str] = field(default_factory=list)
    # End.
    outcome: str | None = None
    reason: str | None = None
    runs: int = 1

    @classmethod
    def new(cls, start: CaseStart) -> CaseState:
        return cls(
            case_id=start.case_id,
            household_key=start.household_key,
            district=start.district,
            urban=start.urban,
        )

    def trigger(self, event_id: str) -> Trigger:
        for trigger in self.triggers:
            if trigger.event_id == event_id:
                return trigger
        raise KeyError(event_id)

    @property
    def overdue(self) -> bool:
        return self.task is not None and self.task.overdue


@dataclass(frozen=True)
class CaseResume:
    """The input of a case's next run after continue-as-new: where it started, where it is.

    (A new case starts from a bare ``CaseStart``; the workflow takes either.)
    """

    start: CaseStart
    state: CaseState


CaseInput = VisitResult | Objection | Approval | Withdrawal
"""What caseworkers and supervisors send a case (by update)."""


@dataclass
class Pending:
    """An accepted update waiting for the case's main loop; its handler returns ``ack``.

    Never carried over continue-as-new: the case continues as new only with none pending.
    """

    payload: CaseInput
    ack: UpdateAck | None = None

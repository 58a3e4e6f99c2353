"""The case's domain events: names, the ``data`` each carries, and the step that keys it.

The workflow builds these (pure) and an activity appends them to the household's stream; the
``cases`` projection (``outreach/projections/cases.py``) and the ``visit_tasks``
projection read them. Every event carries ``case_id`` and ``stage`` (the case's stage after it),
so projections follow the workflow without a second state machine. ``step`` is unique within a
case and stable across retries and replays: the event id is derived from it.

======================  ==========================================================================
type                    data (besides ``case_id`` and ``stage``)
======================  ==========================================================================
CaseOpened              district, urban, trigger {type, event_id}, programmes, screening
TriggerJoined           trigger {type, event_id}, reconsidered (bool), programmes? (if reconsidered)
NoticeSent              channel, template (the first message to the household)
ReminderSent            channel (sms/phone/letter), attempt
VisitScheduled          task_id, kind (visit/reverify), attempt, district, due_at
VisitOverdue            task_id, due_at (escalated to the district's supervisors; task stays open)
VisitCompleted          task_id, found, attempt, visited_on and, when found, the figures;
                        ``personal.notes`` (encrypted)
VisitCancelled          task_id, reason (the case closed with the task open)
EconomicStatusChecked   verified figures, discrepancies (recorded by the check activity)
EligibilityAssessed     decision_id, eligible, programmes (awards), trace, decided_on,
                        approval_required, approval_reason (recorded by the assess activity)
ApprovalRequested       decision_id, reason
ApprovalRecorded        decision_id, approved, supervisor, comment
PublicityStarted        decision_id, ends_at, round
ObjectionRaised         objection_id, reason, received_on; ``personal.summary`` (encrypted)
PublicityEnded          decision_id
CaseWithdrawn           recorded_by; ``personal.reason`` (encrypted)
EnrollmentFinalized     programmes, decision_id, decided_at (recorded by the enrolment activity)
CaseClosed              outcome, reason (recorded by the closing activity)
======================  ==========================================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from outreach.workflows.case_contract import Objection, Stage, Trigger, VisitResult, Withdrawal
from outreach.workflows.case_data import DomainEvent

__all__ = [
    "approval_recorded",
    "approval_requested",
    "case_opened",
    "case_withdrawn",
    "notice_sent",
    "objection_raised",
    "publicity_ended",
    "publicity_started",
    "reminder_sent",
    "trigger_joined",
    "visit_cancelled",
    "visit_completed",
    "visit_overdue",
    "visit_scheduled",
]


def _event(type_: str, step: str, case_id: str, stage: Stage, **data: Any) -> DomainEvent:
    return DomainEvent(type=type_, step=step, data={"case_id": case_id, "stage": stage, **data})


def _trigger_ref(trigger: Trigger) -> dict[str, str]:
    return {"type": trigger.event_type, "event_id": trigger.event_id}


def case_opened(
    case_id: str,
    stage: Stage,
    district: str,
    urban: bool,
    trigger: Trigger,
    programmes: tuple[str, ...],
    screening: tuple[str, ...],
) -> DomainEvent:
    return _event(
        "CaseOpened",
        "opened",
        case_id,
        stage,
        district=district,
        urban=urban,
        trigger=_trigger_ref(trigger),
        programmes=list(programmes),
        screening=list(screening),
    )


def trigger_joined(
    case_id: str, stage: Stage, trigger: Trigger, programmes: tuple[str, ...] | None
) -> DomainEvent:
    extra: dict[str, Any] = {"reconsidered": programmes is not None}
    if programmes is not None:
        extra["programmes"] = list(programmes)
    return _event(
        "TriggerJoined",
        f"trigger-{trigger.event_id}",
        case_id,
        stage,
        trigger=_trigger_ref(trigger),
        **extra,
    )


def notice_sent(case_id: str, stage: Stage, channel: str) -> DomainEvent:
    return _event("NoticeSent", "notice", case_id, stage, channel=channel, template="notice")


def reminder_sent(case_id: str, stage: Stage, channel: str, attempt: int) -> DomainEvent:
    return _event(
        "ReminderSent", f"reminder-{attempt}", case_id, stage, channel=channel, attempt=attempt
    )


def visit_scheduled(
    case_id: str,
    stage: Stage,
    task_id: str,
    kind: str,
    attempt: int,
    number: int,
    district: str,
    due_at: datetime,
) -> DomainEvent:
    return _event(
        "VisitScheduled",
        f"visit-scheduled-{number}",
        case_id,
        stage,
        task_id=task_id,
        kind=kind,
        attempt=attempt,
        district=district,
        due_at=due_at.isoformat(),
    )


def visit_overdue(
    case_id: str, stage: Stage, task_id: str, number: int, due_at: datetime
) -> DomainEvent:
    return _event(
        "VisitOverdue",
        f"visit-overdue-{number}",
        case_id,
        stage,
        task_id=task_id,
        due_at=due_at.isoformat(),
        escalated_to="supervisor",
    )


def visit_completed(
    case_id: str, stage: Stage, result: VisitResult, attempt: int, number: int
) -> DomainEvent:
    data: dict[str, Any] = {
        "task_id": result.task_id,
        "found": result.found,
        "attempt": attempt,
        "visited_on": result.visited_on.isoformat(),
    }
    if result.found:
        data.update(
            household_size=result.household_size,
            monthly_income_total=str(result.monthly_income_total),
            labor_capacity=[c.value for c in result.labor_capacity],
            consent_to_check=result.consent_to_check,
            has_supporter=result.has_supporter,
            assets={
                "vehicles": result.assets.vehicles,
                "homes": result.assets.homes,
                "business_premises": result.assets.business_premises,
                "financial_assets": str(result.assets.financial_assets),
            },
        )
    if result.notes:
        data["personal"] = {"notes": result.notes}
    return _event("VisitCompleted", f"visit-completed-{number}", case_id, stage, **data)


def visit_cancelled(
    case_id: str, stage: Stage, task_id: str, number: int, reason: str
) -> DomainEvent:
    return _event(
        "VisitCancelled",
        f"visit-cancelled-{number}",
        case_id,
        stage,
        task_id=task_id,
        reason=reason,
    )


def approval_requested(
    case_id: str, stage: Stage, decision_id: str, round_: int, reason: str
) -> DomainEvent:
    return _event(
        "ApprovalRequested",
        f"approval-requested-{round_}",
        case_id,
        stage,
        decision_id=decision_id,
        reason=reason,
    )


def approval_recorded(
    case_id: str,
    stage: Stage,
    decision_id: str,
    round_: int,
    approved: bool,
    supervisor: str,
    comment: str,
) -> DomainEvent:
    return _event(
        "ApprovalRecorded",
        f"approval-{round_}",
        case_id,
        stage,
        decision_id=decision_id,
        approved=approved,
        supervisor=supervisor,
        comment=comment,
    )


def publicity_started(
    case_id: str, stage: Stage, decision_id: str, round_: int, ends_at: datetime
) -> DomainEvent:
    return _event(
        "PublicityStarted",
        f"publicity-{round_}",
        case_id,
        stage,
        decision_id=decision_id,
        ends_at=ends_at.isoformat(),
        round=round_,
    )


def objection_raised(case_id: str, stage: Stage, objection: Objection) -> DomainEvent:
    return _event(
        "ObjectionRaised",
        f"objection-{objection.objection_id}",
        case_id,
        stage,
        objection_id=objection.objection_id,
        reason="objection during publicity: verification re-opened",
        received_on=objection.received_on.isoformat(),
        personal={"summary": objection.summary},
    )


def publicity_ended(case_id: str, stage: Stage, decision_id: str, round_: int) -> DomainEvent:
    return _event(
        "PublicityEnded",
        f"publicity-ended-{round_}",
        case_id,
        stage,
        decision_id=decision_id,
    )


def case_withdrawn(case_id: str, stage: Stage, withdrawal: Withdrawal) -> DomainEvent:
    return _event(
        "CaseWithdrawn",
        "withdrawn",
        case_id,
        stage,
        recorded_by=withdrawal.recorded_by,
        personal={"reason": withdrawal.reason},
    )

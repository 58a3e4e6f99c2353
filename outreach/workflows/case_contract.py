"""How the rest of the service talks to a household's ``OutreachCase`` workflow.

Ingest, the HTTP API and the CLI import only this module: the workflow id for a household, the
names of its signals, updates and queries, and their input types. Inputs are dataclasses carried
with Temporal's pydantic data converter (``outreach.infra.temporal.connect``), so ``Decimal`` and
``datetime`` fields survive the trip.

Personal data never enters a workflow: Temporal histories cannot be crypto-shredded, so a trigger
carries the event-store id of the stored agency event and only the non-identifying facts that
screening needs. Names, ID numbers, phones and addresses stay (encrypted) in the event store.
Caseworker input is figures, not identities. The free-text fields of a visit (``notes``) and an
objection (``summary``) arrive sealed (:data:`SEALED_PREFIX`: encrypted with the household's
data key by ``outreach.cases.commands``), so the history holds only ciphertext that
crypto-shredding makes unreadable; the case keeps no copy in its state and its events carry the
text under ``personal`` (encrypted in the event store). A withdrawal's ``reason`` and an
approval's ``comment`` are not sealed and must not carry personal data.

Caseworkers and supervisors act through updates, each with a validator: an invalid input is
rejected before it is written to history and changes nothing (the API answers 422 with the
validator's message, ``WorkflowUpdateFailedError.cause``). Every update returns an
:class:`UpdateAck`::

    handle = client.get_workflow_handle(case_workflow_id(household_key))
    ack = await handle.execute_update(VISIT_RESULT_UPDATE, result, result_type=UpdateAck)
    status = await handle.query(STATUS_QUERY, result_type=CaseStatus)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from outreach.policy.circumstances import LaborCapacity

WORKFLOW_TYPE = "OutreachCase"

# Signal: a stored agency event for this household (opens the case via signal-with-start, or
# joins the open one). The workflow ignores an event id it has seen, so a redelivered event
# never acts twice even if ingest signals again after a crash.
TRIGGER_SIGNAL = "trigger"

# Query: the event ids of the triggers the case has accepted, in arrival order.
TRIGGERS_QUERY = "triggers"
# Query: the case's current status (``CaseStatus``: stage, outcome, open task, decision ...).
STATUS_QUERY = "status"


def case_workflow_id(household_key: str) -> str:
    """One case per household at a time: the workflow id is derived from the pseudonymous key.

    A closed case's id is reused by the household's next case (a new run of the same id).
    """
    return f"outreach-case-{household_key}"


@dataclass(frozen=True)
class MemberFacts:
    """A monitoring household member, without identity."""

    relation: str
    labor_capacity: str  # full / partial / none
    age: int


@dataclass(frozen=True)
class Trigger:
    """An agency event as the case sees it: what happened, to which household, and the facts."""

    event_id: str  # event-store id (uuid5 of the CloudEvents source and id)
    event_type: str  # e.g. "medical.settlement.recorded"
    source: str
    occurred_at: datetime
    household_key: str  # HMAC of the household id (the event-store stream key)
    district: str
    urban: bool
    # disability.certificate.issued / .expiring
    certificate_category: str | None = None
    certificate_grade: int | None = None
    certificate_valid_until: str | None = None
    # medical.settlement.recorded
    out_of_pocket: Decimal | None = None
    total_cost: Decimal | None = None
    serious_illness: bool | None = None
    # monitoring.household.listed
    risk: str | None = None
    per_capita_annual_income: Decimal | None = None
    members: tuple[MemberFacts, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CaseStart:
    """Workflow input; used only when a signal-with-start actually starts a new case."""

    household_key: str
    district: str
    urban: bool
    case_id: str  # stable id for the case (uuid5 of the opening trigger's event id)


CASE_NAMESPACE = uuid.UUID("9d1c5a52-3f0e-5b7a-8e24-6c1f0b9a7d33")
"""Namespace of case ids (same value as ``outreach.ingest.triggers.CASE_NAMESPACE``)."""


def case_id_for_trigger(event_id: str) -> str:
    """Case id of a case opened by the trigger with this event-store id.

    The same rule as ingest's ``outreach.ingest.triggers.case_id_for`` (uuid5 of the
    trigger's event id in :data:`CASE_NAMESPACE`); the case uses it when triggers that arrived
    after its decision open the household's next case.
    """
    return str(uuid.uuid5(CASE_NAMESPACE, event_id))


# -- caseworker and supervisor input (Temporal updates, validated before they enter history) ----

SEALED_PREFIX = "sealed:v1:"
"""Free text (a visit's ``notes``, an objection's ``summary``) that starts with this prefix is
sealed: encrypted with the household's data key before it is sent (``outreach.store.sealed_text``),
so the update in Temporal's history holds only ciphertext that crypto-shredding the household
makes unreadable. The case passes it through to its event's ``personal`` member, and the
recording activity opens it before the event is stored (encrypted again, in the event store)."""


def is_sealed(text: str) -> bool:
    return text.startswith(SEALED_PREFIX)


# Update: a home-visit result for the case's open visit task (``VisitResult`` -> ``UpdateAck``).
VISIT_RESULT_UPDATE = "complete_visit"
# Update: an objection raised during the publicity period (``Objection`` -> ``UpdateAck``).
OBJECTION_UPDATE = "raise_objection"
# Update: the supervisor's decision on an award that needs approval (``Approval`` -> ``UpdateAck``).
APPROVAL_UPDATE = "approve"
# Update: the household withdraws before enrolment (``Withdrawal`` -> ``UpdateAck``).
WITHDRAWAL_UPDATE = "withdraw"


class Stage(StrEnum):
    """Where a case is (search attribute ``OutreachStage``, ``CaseStatus.stage``)."""

    SCREENING = "screening"
    NOTIFY = "notify"
    VISIT = "visit"
    VERIFY = "verify"
    DECIDE = "decide"
    APPROVAL = "approval"
    PUBLICITY = "publicity"
    ENROL = "enrol"
    CLOSED = "closed"


@dataclass(frozen=True)
class VisitAssets:
    """The household's property as seen on the visit (the ``assets`` object of a visit result).

    ``vehicles``: motor vehicles not exempt by policy; ``homes``: residential properties;
    ``business_premises``: commercial properties; ``financial_assets``: savings and deposits.
    """

    vehicles: int = 0
    homes: int = 0
    business_premises: int = 0
    financial_assets: Decimal = Decimal(0)


@dataclass(frozen=True)
class VisitResult:
    """A caseworker's home-visit result: the body of ``POST /api/tasks/{task_id}/complete``.

    ``found: false`` (nobody reached) needs nothing else and leads to another attempt. With
    ``found: true``: ``household_size`` (1-30), ``monthly_income_total`` (yuan, the whole
    household's), ``labor_capacity`` (one of full/partial/none per member, so exactly
    ``household_size`` entries), ``consent_to_check`` (consent to the economic-status check;
    without it the case ends ``declined``), ``assets``. ``has_supporter`` (someone legally
    obliged and able to support the household) is optional; unknown counts as yes. ``notes`` is
    free text for the timeline, sealed (:data:`SEALED_PREFIX`) by the API, the page and the CLI.
    """

    task_id: str
    visited_on: date
    found: bool
    household_size: int | None = None
    monthly_income_total: Decimal | None = None
    labor_capacity: tuple[LaborCapacity, ...] = ()
    consent_to_check: bool = False
    assets: VisitAssets = field(default_factory=VisitAssets)
    notes: str = ""
    has_supporter: bool | None = None


@dataclass(frozen=True)
class Objection:
    """An objection to a decision under publicity (公示). ``objection_id`` makes it idempotent."""

    objection_id: str
    summary: str
    received_on: date


@dataclass(frozen=True)
class Approval:
    """A supervisor's approval (or rejection: the case goes back to verification).

    ``decision_id`` (from ``CaseStatus.decision``), when given, must be the decision awaiting
    approval, so an approval meant for an earlier decision is rejected.
    """

    approved: bool
    supervisor: str
    comment: str = ""
    decision_id: str | None = None


@dataclass(frozen=True)
class Withdrawal:
    """The household withdraws from the case (before enrolment)."""

    reason: str
    recorded_by: str


@dataclass(frozen=True)
class UpdateAck:
    """What an accepted update did: the case's stage afterwards and, if one was opened, the task."""

    case_id: str
    stage: Stage
    detail: str
    task_id: str | None = None


# -- status (STATUS_QUERY) -------------------------------------------------------------------


@dataclass(frozen=True)
class TaskStatus:
    """The case's open home-visit task. ``kind``: ``visit`` (first contact) or ``reverify``."""

    task_id: str
    kind: str
    attempt: int
    created_at: datetime
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class AwardStatus:
    programme: str
    monthly_amount: Decimal | None
    one_off_amount: Decimal | None
    effective_from: date


@dataclass(frozen=True)
class DecisionStatus:
    decision_id: str
    decided_on: date
    eligible: bool
    awards: tuple[AwardStatus, ...]
    approval_required: bool
    approval_reason: str
    approved_by: str | None


@dataclass(frozen=True)
class CaseStatus:
    """Answer of ``STATUS_QUERY``. ``awaiting`` names what the case waits for, if anyone:
    ``visit_result``, ``approval``, ``publicity_end`` (objections accepted) or ``None``."""

    case_id: str
    household_key: str
    district: str
    stage: Stage
    outcome: str | None
    reason: str | None
    opened_at: datetime | None
    programmes: tuple[str, ...]
    triggers: tuple[str, ...]
    reminders_sent: int
    visit_attempts: int
    open_task: TaskStatus | None
    overdue: bool
    awaiting: str | None
    decision: DecisionStatus | None
    publicity_ends_at: datetime | None
    objections: int
    run_count: int


@dataclass(frozen=True)
class CaseOutcome:
    """The result of a finished ``OutreachCase`` run: how the case ended, and why."""

    case_id: str
    outcome: str  # enrolled / not_eligible / declined / unreachable / withdrawn
    reason: str

"""How the rest of the service talks to a household's ``OutreachCase`` workflow.

Ingest, the HTTP API and the CLI import only this module: the workflow id for a household, the
names of its signals, updates and queries, and their input types. Inputs are dataclasses carried
with Temporal's pydantic data converter (``outreach.infra.temporal.connect``), so ``Decimal`` and
``datetime`` fields survive the trip.

Personal data never enters a workflow: Temporal histories cannot be crypto-shredded, so a trigger
carries the event-store id of the stored agency event and only the non-identifying facts that
screening needs. Names, ID numbers, phones and addresses stay (encrypted) in the event store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

WORKFLOW_TYPE = "OutreachCase"

# Signal: a stored agency event for this household (opens the case via signal-with-start, or
# joins the open one). The workflow ignores an event id it has seen, so a redelivered event
# never acts twice even if ingest signals again after a crash.
TRIGGER_SIGNAL = "trigger"

# Query: the event ids of the triggers the case has accepted, in arrival order.
TRIGGERS_QUERY = "triggers"
# Query: the case's current status (stage, outcome, open tasks ...): see the workflow module.
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

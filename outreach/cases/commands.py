"""What caseworkers and supervisors do to a case, for the API, the web page and the CLI."""

# The request bodies are pydantic models (the HTTP edge: FastAPI answers 422 when a body does not
# fit them). Each command finds the case's workflow, checks the principal may act in the case's
# district, and sends a Temporal update; the workflow's validator has the last word: a result it
# rejects raises :class:`CommandRejected` with its reason, and nothing changes (the update never
# entered history). Errors:
#
# * :class:`NotFound`: no such task or case (HTTP 404);
# * :class:`Forbidden`: the principal may not see or act there (HTTP 403);
# * :class:`CommandRejected`: the input or the case's state does not allow it (HTTP 422);
# * :class:`Unavailable`: the case did not answer in time (no worker running, Temporal down;
#   HTTP 503). Whether a timed-out update was applied is unknown: the case's status tells.

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, field_validator
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from outreach.cases.access import Action, Principal
from outreach.cases.inputs import Id, Text
from outreach.events.limits import MAX_AMOUNT, MAX_AMOUNT_PLACES
from outreach.policy.circumstances import LaborCapacity
from outreach.store.event_store import EventStore
from outreach.store.sealed_text import seal
from outreach.workflows.case_contract import (
    APPROVAL_UPDATE,
    OBJECTION_UPDATE,
    STATUS_QUERY,
    VISIT_RESULT_UPDATE,
    Approval,
    CaseStatus,
    Objection,
    UpdateAck,
    VisitAssets,
    VisitResult,
    case_workflow_id,
)
from outreach.workflows.visit_validation import MAX_HOUSEHOLD_SIZE, MAX_NOTES

__all__ = [
    "ApprovalIn",
    "CommandError",
    "CommandRejected",
    "Forbidden",
    "NotFound",
    "ObjectionIn",
    "Unavailable",
    "VisitAssetsIn",
    "VisitResultIn",
    "approve",
    "complete_task",
    "raise_objection",
]


class CommandError(Exception):
    """A command that did not happen; ``str()`` is the reason, fit to show a person."""


class NotFound(CommandError):
    pass


class Forbidden(CommandError):
    pass


class CommandRejected(CommandError):
    pass


class Unavailable(CommandError):
    pass


QUERY_TIMEOUT = timedelta(seconds=15)
"""How long a command waits for the case to answer its status query (a worker must run)."""
UPDATE_TIMEOUT = timedelta(seconds=60)
"""How long a command waits for the case to accept and apply an update."""


# -- request bodies (CONTRACT.md, "HTTP API") -------------------------------------------------
# Every field is bounded (``http_limits``: ids, text without NUL; amounts as ingest takes them):
# what a body carries reaches a Temporal update and the event store.

_BODY = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=MAX_NOTES)
_AMOUNT = Field(ge=0, lt=MAX_AMOUNT, decimal_places=MAX_AMOUNT_PLACES, allow_inf_nan=False)


class VisitAssetsIn(BaseModel):
    model_config = _BODY

    vehicles: int = Field(default=0, ge=0, le=1000)
    homes: int = Field(default=0, ge=0, le=1000)
    business_premises: int = Field(default=0, ge=0, le=1000)
    financial_assets: Annotated[Decimal, _AMOUNT] = Decimal(0)


class VisitResultIn(BaseModel):
    """Body of ``POST /api/tasks/{task_id}/complete``.

    ``labor_capacity`` is one entry per household member (full/partial/none); a single value
    stands for every member. With ``found: false`` only ``visited_on`` (and ``notes``) matter.
    ``notes`` must not repeat names, ID numbers, phones or addresses.
    """

    model_config = _BODY

    visited_on: date
    found: bool
    household_size: int | None = Field(default=None, ge=1, le=MAX_HOUSEHOLD_SIZE)
    monthly_income_total: Annotated[Decimal, _AMOUNT] | None = None
    labor_capacity: (
        Annotated[list[LaborCapacity], Field(max_length=MAX_HOUSEHOLD_SIZE)] | LaborCapacity
    ) = Field(default_factory=list)
    consent_to_check: bool = False
    assets: VisitAssetsIn = Field(default_factory=VisitAssetsIn)
    notes: Text = Field(default="", max_length=MAX_NOTES)
    has_supporter: bool | None = None

    def to_result(self, task_id: str) -> VisitResult:
        capacities = self.labor_capacity
        if not isinstance(capacities, list):
            capacities = [capacities] * (self.household_size or 0)
        return VisitResult(
            task_id=task_id,
            visited_on=self.visited_on,
            found=self.found,
            household_size=self.household_size,
            monthly_income_total=self.monthly_income_total,
            labor_capacity=tuple(capacities),
            consent_to_check=self.consent_to_check,
            assets=VisitAssets(**self.assets.model_dump()),
            notes=self.notes,
            has_supporter=self.has_supporter,
        )


class ObjectionIn(BaseModel):
    """Body of ``POST /api/cases/{case_id}/objections``. ``objection_id`` (optional) makes a
    retried request idempotent; without it, each request is a new objection."""

    model_config = _BODY

    summary: Text = Field(min_length=1, max_length=MAX_NOTES)
    received_on: date
    objection_id: Id | None = None

    @field_validator("summary")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("summary must not be blank")
        return value


class ApprovalIn(BaseModel):
    """Body of ``POST /api/cases/{case_id}/approve``. ``approved: false`` sends the decision
    back to verification. ``decision_id`` guards against approving a superseded decision."""

    model_config = _BODY

    approved: bool = True
    comment: Text = Field(default="", max_length=MAX_NOTES)
    decision_id: Id | None = None


# -- commands ---------------------------------------------------------------------------------


async def complete_task(
    client: Client, store: EventStore, principal: Principal, task_id: str, body: VisitResultIn
) -> UpdateAck:
    """Send a visit result to the task's case (its notes sealed for the household)."""
    row = await store.pool.fetchrow(
        "SELECT case_id, household, district, status FROM visit_tasks WHERE task_id = $1", task_id
    )
    if row is None or not principal.may_see(row["district"]):
        # a task outside the principal's districts is answered like a missing one only when
        # it does not exist; otherwise 403 tells the caller the token is the problem
        if row is None:
            raise NotFound(f"no visit task {task_id}")
        raise Forbidden(f"task {task_id} is in district {row['district']}, not one of yours")
    _check_may(principal, Action.COMPLETE_VISIT)
    if row["status"] != "open":
        raise CommandRejected(f"task {task_id} is {row['status']}")
    household: str = row["household"]
    result = body.to_result(task_id)
    result = replace(result, notes=await seal(store, household, result.notes))
    return await _update(client, household, VISIT_RESULT_UPDATE, result, row["case_id"])


async def raise_objection(
    client: Client, store: EventStore, principal: Principal, case_id: str, body: ObjectionIn
) -> UpdateAck:
    """Send an objection to the case (its summary sealed for the household)."""
    household = await _case_household(store.pool, principal, case_id)
    _check_may(principal, Action.RAISE_OBJECTION)
    objection = Objection(
        objection_id=body.objection_id or str(uuid.uuid4()),
        summary=await seal(store, household, body.summary),
        received_on=body.received_on,
    )
    return await _update(client, household, OBJECTION_UPDATE, objection, case_id)


async def approve(
    client: Client, store: EventStore, principal: Principal, case_id: str, body: ApprovalIn
) -> UpdateAck:
    """Send the supervisor's decision on the pending award (``comment`` is not sealed: it is
    about the decision and is recorded in clear; it must not carry personal data)."""
    household = await _case_household(store.pool, principal, case_id)
    _check_may(principal, Action.APPROVE)
    approval = Approval(
        approved=body.approved,
        supervisor=principal.name,
        comment=body.comment,
        decision_id=body.decision_id,
    )
    return await _update(client, household, APPROVAL_UPDATE, approval, case_id)


def _check_may(principal: Principal, action: Action) -> None:
    if not principal.may(action):
        raise Forbidden(f"{principal.role} tokens may not {action.value.replace('_', ' ')}")


async def _case_household(db: asyncpg.Pool, principal: Principal, case_id: str) -> str:
    row = await db.fetchrow(
        "SELECT household, district, status FROM cases WHERE case_id = $1", case_id
    )
    if row is None:
        raise NotFound(f"no case {case_id}")
    if not principal.may_see(row["district"]):
        raise Forbidden(f"case {case_id} is in district {row['district']}, not one of yours")
    if row["status"] != "open":
        raise CommandRejected(f"case {case_id} is closed")
    household: str = row["household"]
    return household


async def _update(client: Client, household: str, update: str, arg: Any, case_id: str) -> UpdateAck:
    handle = client.get_workflow_handle(case_workflow_id(household))
    try:
        # the household's workflow id outlives a case (its next case is a new run of the same
        # id): make sure the run still holds this case before acting on it
        status = await handle.query(STATUS_QUERY, result_type=CaseStatus, rpc_timeout=QUERY_TIMEOUT)
        if status.case_id != case_id:
            raise CommandRejected(f"case {case_id} is closed; the household has a newer case")
        ack: UpdateAck = await handle.execute_update(
            update, arg, result_type=UpdateAck, rpc_timeout=UPDATE_TIMEOUT
        )
        return ack
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise CommandRejected(str(getattr(cause, "message", None) or cause or exc)) from exc
    except WorkflowQueryRejectedError as exc:
        raise CommandRejected(f"case {case_id} is no longer running") from exc
    except (RPCTimeoutOrCancelledError, WorkflowQueryFailedError) as exc:
        raise Unavailable(f"case {case_id} did not answer in time; try again") from exc
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise CommandRejected(f"case {case_id} is no longer running") from exc
        if exc.status in _UNAVAILABLE:
            raise Unavailable(
                f"case {case_id} did not answer ({exc.status.name}); try again"
            ) from exc
        raise


_UNAVAILABLE = frozenset(
    {
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.CANCELLED,
        # the update reached a workflow task that then failed (e.g. refused because a signal
        # arrived as it completed): nothing was accepted, the same request may be sent again
        RPCStatusCode.FAILED_PRECONDITION,
    }
)

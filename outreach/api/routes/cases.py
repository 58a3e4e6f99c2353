"""``/api/cases``: list and read cases, record objections, approve decisions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from outreach.api.deps import Svc, Who, forbid_district
from outreach.api.responses import COMMAND, READ, READ_ONE, ack
from outreach.cases import commands as case_commands
from outreach.cases import views as case_views
from outreach.cases.commands import ApprovalIn, ObjectionIn
from outreach.cases.inputs import Offset, PathId, QueryHouseholdId, QueryText

__all__ = ["router"]

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.get("", responses=READ)
async def get_cases(
    svc: Svc,
    who: Who,
    status_: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
    district: QueryText = None,
    household_id: QueryHouseholdId = None,
    stage: QueryText = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Cases in the token's districts, newest first (``household_id`` is the agency's id)."""
    forbid_district(who, district)
    household = svc.store.stream_key(household_id) if household_id else None
    rows = await case_views.list_cases(
        svc.db,
        who,
        status=status_,
        district=district,
        household=household,
        stage=stage,
        limit=limit,
        offset=offset,
    )
    return {"cases": [r.to_dict() for r in rows]}


@router.get("/{case_id}", responses=READ_ONE)
async def get_case(case_id: PathId, svc: Svc, who: Who) -> dict[str, Any]:
    """The case, its visit tasks and its ``timeline`` (domain events in order, with the
    personal fields decrypted; the read is recorded in the access log)."""
    detail = await case_views.case_detail(svc.db, svc.store, who, case_id, channel="api")
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    return detail.to_dict()


@router.post("/{case_id}/objections", responses=COMMAND)
async def raise_objection(case_id: PathId, body: ObjectionIn, svc: Svc, who: Who) -> dict[str, Any]:
    """Record an objection received during publicity (re-opens verification)."""
    return ack(await case_commands.raise_objection(svc.temporal, svc.store, who, case_id, body))


@router.post("/{case_id}/approve", responses=COMMAND)
async def approve(case_id: PathId, body: ApprovalIn, svc: Svc, who: Who) -> dict[str, Any]:
    """A supervisor approves (or, with ``approved: false``, rejects) the pending decision."""
    return ack(await case_commands.approve(svc.temporal, svc.store, who, case_id, body))

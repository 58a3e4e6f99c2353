"""``/api/tasks``: list visit tasks and record a home visit's result."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from outreach.api.deps import Svc, Who, forbid_district
from outreach.api.responses import COMMAND, READ, ack
from outreach.cases import commands as case_commands
from outreach.cases import views as case_views
from outreach.cases.commands import VisitResultIn
from outreach.cases.inputs import PathId, QueryText

__all__ = ["router"]

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("", responses=READ)
async def get_tasks(
    svc: Svc,
    who: Who,
    district: QueryText = None,
    status_: Annotated[
        Literal["open", "completed", "cancelled", "all"], Query(alias="status")
    ] = "open",
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Visit tasks in the token's districts, soonest due first, with the overdue flag."""
    forbid_district(who, district)
    rows = await case_views.list_tasks(
        svc.db,
        who,
        status=None if status_ == "all" else status_,
        district=district,
        overdue_only=overdue,
        limit=limit,
    )
    return {"tasks": [r.to_dict() for r in rows]}


@router.post("/{task_id}/complete", responses=COMMAND)
async def complete_task(task_id: PathId, body: VisitResultIn, svc: Svc, who: Who) -> dict[str, Any]:
    """Record a home-visit result (a Temporal update on the case; 422 with the reason when
    the case rejects it, and nothing changes)."""
    return ack(await case_commands.complete_task(svc.temporal, svc.store, who, task_id, body))

"""``/api/overview``: the ops figures for the token's districts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from outreach.api.deps import Svc, Who
from outreach.api.responses import responses
from outreach.cases import views as case_views

__all__ = ["router"]

router = APIRouter(tags=["ops"])


@router.get("/api/overview", responses=responses(401))
async def get_overview(svc: Svc, who: Who) -> dict[str, Any]:
    """Open cases per stage, closed per outcome, open and overdue visits, dead-lettered
    input, events projections skipped, the oldest open case, and the cases whose workflow
    task keeps failing (for the token's districts; ops: everywhere)."""
    return (await case_views.overview(svc.db, who, temporal=svc.temporal)).to_dict()

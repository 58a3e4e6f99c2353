"""``/healthz``: whether the API's database answers."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from outreach.api.deps import Svc

__all__ = ["router"]

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz(svc: Svc) -> JSONResponse:
    """200 when Postgres answers; 503 otherwise (Temporal is checked by its own client)."""
    try:
        await svc.db.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError) as exc:
        return JSONResponse({"status": "unhealthy", "postgres": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})

"""The HTTP API (CONTRACT.md, "HTTP API"): FastAPI, bearer tokens, OpenAPI at ``/openapi.json``.

``create_app(settings)`` builds the app; its lifespan opens the Postgres pool, the event store
and the Temporal client (or uses the ones passed in, as ``outreach serve`` and the tests do).
Reads go through :mod:`outreach.cases.views`, actions through
:mod:`outreach.cases.commands` (Temporal updates); both apply the token's districts.

Errors: 401 without a valid token (``WWW-Authenticate: Bearer``), 403 for a case or task in
another district or an action the role may not take, 404 for an unknown id, 413 for a body over
``OUTREACH_API_MAX_BODY_BYTES`` (not read), 422 for an id, filter or body that does not fit
(:mod:`outreach.api.limits`, before any query) or an update the case's validator rejects
(``detail`` says why; nothing changed), 503 when the case did not answer in time (no worker,
Temporal unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import asyncpg
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from temporalio.client import Client

from outreach.api.limits import (
    BodyLimit,
    Offset,
    PathId,
    QueryHouseholdId,
    QueryText,
    unprocessable,
)
from outreach.cases import commands as case_commands
from outreach.cases import views as case_views
from outreach.cases.access import Principal, authenticate
from outreach.cases.commands import ApprovalIn, ObjectionIn, VisitResultIn
from outreach.infra.log import get_logger
from outreach.infra.settings import Settings
from outreach.store.event_store import EventStore
from outreach.web import mount_web
from outreach.workflows.case_contract import UpdateAck

__all__ = ["ApiStartError", "Services", "create_app", "serve_api"]

log = get_logger(__name__)


@dataclass
class Services:
    """What the API's handlers use; one per process, shared by the web page."""

    settings: Settings
    db: asyncpg.Pool
    store: EventStore
    temporal: Client


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


_bearer = HTTPBearer(auto_error=False, description="A token from `outreach tokens create`.")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The token's principal; 401 when the token is missing, unknown or revoked."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = await authenticate(services(request).db, credentials.credentials)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the token is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return found


Svc = Annotated[Services, Depends(services)]
Who = Annotated[Principal, Depends(principal)]


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    """A command or read the shared layer refused (``case_commands`` errors, ``Invisible``), as
    the API's error answer; registered on the app, so routes need not catch them."""
    code = status.HTTP_422_UNPROCESSABLE_CONTENT
    if isinstance(exc, case_commands.NotFound):
        code = status.HTTP_404_NOT_FOUND
    elif isinstance(exc, case_commands.Forbidden | case_views.Invisible):
        code = status.HTTP_403_FORBIDDEN
    elif isinstance(exc, case_commands.Unavailable):
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse({"detail": str(exc)}, status_code=code)


async def _unfit(request: Request, exc: Exception) -> Response:
    """A request whose path, query or body does not fit (422): the fields as JSON for the API
    (``unprocessable``: never the input), the page's error page for a browser."""
    if request.url.path.startswith("/api/"):
        return await unprocessable(request, exc)
    from outreach.web.pages import error_page

    assert isinstance(exc, RequestValidationError)
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
    return error_page(request, status.HTTP_422_UNPROCESSABLE_CONTENT, fields)


def _ack(ack: UpdateAck) -> dict[str, Any]:
    body: dict[str, Any] = case_views.jsonable(dataclasses.asdict(ack))
    return body


def _forbid_district(who: Principal, district: str | None) -> None:
    if district is not None and not who.may_see(district):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"district {district} is not one of yours")


def create_app(
    settings: Settings,
    *,
    db: asyncpg.Pool | None = None,
    store: EventStore | None = None,
    temporal: Client | None = None,
) -> FastAPI:
    """The API and the web page (``outreach.web``).

    Resources not passed in are opened by the lifespan and closed with it.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool = db
            if pool is None:
                from outreach.store.database import open_pool

                pool = await open_pool(settings)
                stack.push_async_callback(pool.close)
            events = store
            if events is None:
                from outreach.store.personal_data import load_keyring

                events = EventStore(pool, load_keyring(settings), notify=False)
            client = temporal
            if client is None:
                from outreach.infra.temporal import connect

                client = await connect(settings)
            app.state.services = Services(settings, pool, events, client)
            log.info("api ready", url=settings.api_url)
            yield

    app = FastAPI(
        title="outreach",
        summary="Proactive outreach for social assistance: cases, visit tasks, decisions.",
        version="1",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN; the service loads
        # nothing from other sites, so only the spec itself is served (/openapi.json)
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(case_commands.CommandError, _refused)
    app.add_exception_handler(case_views.Invisible, _refused)
    app.add_exception_handler(RequestValidationError, _unfit)
    _routes(app)
    mount_web(app)

    @app.middleware("http")
    async def _log_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """One log record per request: method, path (never the query string: it may carry a
        household id), status and duration."""
        started = time.perf_counter()
        response = await call_next(request)
        log.debug(
            "http request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    # outermost but for the error handler: a body over the limit is refused before anything
    # reads it (and before a request log record)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    return app


class ErrorOut(BaseModel):
    detail: str


class RejectedOut(BaseModel):
    detail: str | list[dict[str, Any]]
    """The case's reason, or (a body that does not fit) the fields that do not, as FastAPI
    lists them."""


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": RejectedOut if code == 422 else ErrorOut, "description": _ERROR_TEXT[code]}
        for code in codes
    }


_ERROR_TEXT: dict[int, str] = {
    413: "The request body is larger than the limit (OUTREACH_API_MAX_BODY_BYTES); not read.",
    401: "No valid bearer token (missing, unknown or revoked).",
    403: "The case, task or district is outside the token's districts, or the role may not act.",
    404: "No such case or task.",
    422: "The body does not fit (the fields listed) or the case rejected it (the validator's"
    " reason); nothing changed.",
    503: "The case did not answer in time (no worker running or Temporal unreachable).",
}
_READ = _responses(401, 403, 422)
_READ_ONE = _responses(401, 403, 404, 422)
_COMMAND = _responses(401, 403, 404, 413, 422, 503)


def _routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["ops"])
    async def healthz(svc: Svc) -> JSONResponse:
        """200 when Postgres answers; 503 otherwise (Temporal is checked by its own client)."""
        try:
            await svc.db.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError) as exc:
            return JSONResponse({"status": "unhealthy", "postgres": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/api/cases", tags=["cases"], responses=_READ)
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
        _forbid_district(who, district)
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

    @app.get("/api/cases/{case_id}", tags=["cases"], responses=_READ_ONE)
    async def get_case(case_id: PathId, svc: Svc, who: Who) -> dict[str, Any]:
        """The case, its visit tasks and its ``timeline`` (domain events in order, with the
        personal fields decrypted; the read is recorded in the access log)."""
        detail = await case_views.case_detail(svc.db, svc.store, who, case_id, channel="api")
        if detail is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
        return detail.to_dict()

    @app.get("/api/tasks", tags=["tasks"], responses=_READ)
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
        _forbid_district(who, district)
        rows = await case_views.list_tasks(
            svc.db,
            who,
            status=None if status_ == "all" else status_,
            district=district,
            overdue_only=overdue,
            limit=limit,
        )
        return {"tasks": [r.to_dict() for r in rows]}

    @app.post("/api/tasks/{task_id}/complete", tags=["tasks"], responses=_COMMAND)
    async def complete_task(
        task_id: PathId, body: VisitResultIn, svc: Svc, who: Who
    ) -> dict[str, Any]:
        """Record a home-visit result (a Temporal update on the case; 422 with the reason when
        the case rejects it, and nothing changes)."""
        return _ack(await case_commands.complete_task(svc.temporal, svc.store, who, task_id, body))

    @app.post("/api/cases/{case_id}/objections", tags=["cases"], responses=_COMMAND)
    async def raise_objection(
        case_id: PathId, body: ObjectionIn, svc: Svc, who: Who
    ) -> dict[str, Any]:
        """Record an objection received during publicity (re-opens verification)."""
        return _ack(
            await case_commands.raise_objection(svc.temporal, svc.store, who, case_id, body)
        )

    @app.post("/api/cases/{case_id}/approve", tags=["cases"], responses=_COMMAND)
    async def approve(case_id: PathId, body: ApprovalIn, svc: Svc, who: Who) -> dict[str, Any]:
        """A supervisor approves (or, with ``approved: false``, rejects) the pending decision."""
        return _ack(await case_commands.approve(svc.temporal, svc.store, who, case_id, body))

    @app.get("/api/overview", tags=["ops"], responses=_responses(401))
    async def get_overview(svc: Svc, who: Who) -> dict[str, Any]:
        """Open cases per stage, closed per outcome, open and overdue visits, dead-lettered
        input, events projections skipped, the oldest open case, and the cases whose workflow
        task keeps failing (for the token's districts; ops: everywhere)."""
        return (await case_views.overview(svc.db, who, temporal=svc.temporal)).to_dict()


# -- serving ----------------------------------------------------------------------------------


class ApiStartError(RuntimeError):
    """The API could not start (port taken, lifespan failed); the reason is logged."""


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the process's own handlers set ``stop``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(
    settings: Settings,
    app: FastAPI,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve ``app`` on ``settings.api_host:api_port`` in the current event loop until ``stop``
    is set (then finish the requests in flight, up to 10 s, and return).

    uvicorn's own logging setup and signal handlers are left out: records go through the
    process's structlog configuration, and the caller decides when to stop. ``ready`` is set
    once the socket listens. Raises :class:`ApiStartError` when the server cannot start.
    """
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,  # query strings may carry household ids; see _log_requests
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)

    async def watch() -> None:
        while not server.started:
            if server.should_exit or stop.is_set():
                break
            await asyncio.sleep(0.02)
        else:
            log.info("api listening", url=f"http://{settings.api_host}:{settings.api_port}")
            if ready is not None:
                ready.set()
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits on a taken port or a failed lifespan
        raise ApiStartError(
            f"the API could not start on {settings.api_host}:{settings.api_port}"
        ) from exc
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if not server.started and not stop.is_set():
        raise ApiStartError(f"the API could not start on {settings.api_host}:{settings.api_port}")

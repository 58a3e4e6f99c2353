"""The API app: lifespan, middleware, exception handlers, the routers and the web page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from temporalio.client import Client

from outreach.api.limits import BodyLimit, unprocessable
from outreach.api.routes import cases, health, overview, tasks
from outreach.api.server import ApiStartError, serve_api
from outreach.cases import commands as case_commands
from outreach.cases import views as case_views
from outreach.cases.services import Services
from outreach.infra.log import get_logger
from outreach.infra.settings import Settings
from outreach.store.event_store import EventStore
from outreach.web import mount_web
from outreach.web.pages import error_page

# ApiStartError, serve_api and Services are re-exported: the CLI imports them from here
__all__ = ["ApiStartError", "Services", "create_app", "serve_api"]

log = get_logger(__name__)


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
    assert isinstance(exc, RequestValidationError)
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
    return error_page(request, status.HTTP_422_UNPROCESSABLE_CONTENT, fields)


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
    for module in (health, cases, tasks, overview):
        app.include_router(module.router)
    mount_web(app)
    app.middleware("http")(_log_requests)
    # outermost but for the error handler: a body over the limit is refused before anything
    # reads it (and before a request log record)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    return app

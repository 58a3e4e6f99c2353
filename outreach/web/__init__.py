"""The caseworkers' and ops' web page, served by the API process (``outreach.api.app``)."""

# Plain server-rendered HTML (Jinja2 templates under ``templates/``, one stylesheet and one small
# script under ``static/``), labels in Simplified Chinese with English by a switch.

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

__all__ = ["mount_web"]


def mount_web(app: FastAPI) -> None:
    """Add the page's routes, static files and error handling to the API app.

    ==================  ======================================================================
    ``/signin``         paste a token from ``outreach tokens create``; kept in an HttpOnly cookie
    ``/`` ``/tasks``    the open visit tasks of my districts, soonest due first, overdue marked
    ``/tasks/{id}``     the visit form (POST records the result as a Temporal update on the case)
    ``/cases/{id}``     summary, tasks, the timeline from the event store, the decision trace
    ``/ops``            open cases per stage, closed per outcome, overdue visits, dead letters
    ==================  ======================================================================

    Without a valid session a page redirects to ``/signin``; a case or task of another district
    gets a readable 403 page, an unknown one a 404 page.
    """
    from outreach.web.pages import error_page, router
    from outreach.web.rendering import STATIC_DIR, href
    from outreach.web.session import CsrfError, SignInRequired

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            href(request, "/signin?" + urlencode({"next": target})), status_code=303
        )

    async def bad_form(request: Request, exc: Exception) -> Response:
        return error_page(request, 403, str(exc), message="error.csrf")

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(CsrfError, bad_form)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="web-static")
    app.include_router(router)

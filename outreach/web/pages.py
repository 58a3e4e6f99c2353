"""The page's routes: sign-in, task inbox, visit form, case page, ops overview."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from outreach.cases import commands as case_commands
from outreach.cases import views as case_views
from outreach.cases.access import Action, Principal, authenticate
from outreach.cases.inputs import PathId, QueryText
from outreach.cases.services import Services
from outreach.infra.log import get_logger
from outreach.infra.temporal import workflow_ui_url
from outreach.web.rendering import href, lang_of, render
from outreach.web.session import (
    check_origin,
    clear_session,
    current_principal,
    safe_next,
    session_token,
    set_session,
    verify_csrf,
)
from outreach.web.timeline import award_views, entry_view, local_time
from outreach.web.visit_form import LABOR_CHOICES, VisitForm, parse_visit_form
from outreach.workflows.case_contract import Stage
from outreach.workflows.clock import local_date

__all__ = ["error_page", "router"]

log = get_logger(__name__)

router = APIRouter(include_in_schema=False)

Who = Annotated[Principal, Depends(current_principal)]


def _services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(
    request: Request,
    status_code: int,
    detail: str = "",
    *,
    who: Principal | None = None,
    message: str | None = None,
) -> HTMLResponse:
    """A readable error page (403, 404); ``message`` is a catalogue key for the text."""
    return render(
        request,
        "error.html",
        {
            "status": status_code,
            "kind": f"error.{status_code if status_code in (403, 404) else 400}",
            "detail": detail,
            "message": message,
        },
        who=who,
        status_code=status_code,
    )


# -- sign-in -----------------------------------------------------------------------------------


@router.get("/signin")
async def signin_form(
    request: Request,
    next_: Annotated[str, Query(alias="next")] = "/",
    out: bool = False,
) -> Response:
    target = safe_next(next_)
    token = session_token(request)
    if token and await authenticate(_services(request).db, token) is not None:
        return _see_other(href(request, target))
    notice = "signin.signed_out" if out else ("signin.expired" if target != "/" else None)
    return render(request, "signin.html", {"next": target, "notice": notice})


@router.post("/signin")
async def signin(
    request: Request,
    token: Annotated[str, Form()] = "",
    next_: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    check_origin(request)  # no signing someone in from another site
    target = safe_next(next_)
    principal = await authenticate(_services(request).db, token.strip())
    if principal is None:
        log.info("web sign-in refused")
        return render(
            request, "signin.html", {"next": target, "error": "signin.invalid"}, status_code=401
        )
    log.info("web sign-in", actor=principal.name, role=principal.role.value)
    response = _see_other(href(request, target))
    set_session(request, response, token.strip())
    return response


@router.post("/signout")
async def signout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    if session_token(request) is not None:
        verify_csrf(request, csrf)
    response = _see_other(href(request, "/signin?out=1"))
    clear_session(request, response)
    return response


# -- task inbox --------------------------------------------------------------------------------


@router.get("/")
@router.get("/tasks")
async def inbox(request: Request, who: Who, district: QueryText = None) -> Response:
    district = district or None
    if district is not None and not who.may_see(district):
        return error_page(request, 403, f"district {district}", who=who)
    svc = _services(request)
    mine = await case_views.list_tasks(svc.db, who, status="open")
    districts = sorted({t.district for t in mine} | set(who.districts or ()))
    tasks = [t for t in mine if district is None or t.district == district]
    return render(
        request,
        "tasks.html",
        {
            "tasks": tasks,
            "districts": districts,
            "district": district,
            "overdue": sum(t.overdue for t in tasks),
            "local_time": local_time,
            "may_complete": who.may(Action.COMPLETE_VISIT),
        },
        who=who,
        nav="tasks",
    )


# -- visit form --------------------------------------------------------------------------------


async def _task_page(
    request: Request,
    who: Principal,
    task_id: str,
    form: VisitForm | None,
    *,
    problems: list[str] | None = None,
    rejected: str | None = None,
    status_code: int = 200,
) -> Response:
    svc = _services(request)
    try:
        case_id = await case_views.task_case_id(svc.db, who, task_id)
    except case_views.Invisible as exc:
        return error_page(request, 403, str(exc), who=who)
    if case_id is None:
        return error_page(request, 404, f"task {task_id}", who=who)
    tasks = await case_views.list_tasks(svc.db, who, status=None, case_id=case_id)
    task = next((t for t in tasks if t.task_id == task_id), None)
    if task is None:
        return error_page(request, 404, f"task {task_id}", who=who)
    detail = await case_views.case_detail(
        svc.db, svc.store, who, case_id, channel="web", personal=False
    )
    return render(
        request,
        "visit_form.html",
        {
            "task": task,
            "case": detail.case if detail else None,
            "form": form or VisitForm.new(local_date(datetime.now(UTC))),
            "labor_choices": LABOR_CHOICES,
            "problems": problems or [],
            "rejected": rejected,
            "may_complete": who.may(Action.COMPLETE_VISIT),
            "local_time": local_time,
        },
        who=who,
        nav="tasks",
        status_code=status_code,
    )


@router.get("/tasks/{task_id}")
async def visit_form(request: Request, who: Who, task_id: PathId) -> Response:
    return await _task_page(request, who, task_id, None)


@router.post("/tasks/{task_id}")
async def complete_visit(request: Request, who: Who, task_id: PathId) -> Response:
    posted = await request.form()
    verify_csrf(request, posted.get("csrf"))
    entered, body, problems = parse_visit_form(posted)
    if body is None:
        return await _task_page(request, who, task_id, entered, problems=problems, status_code=422)
    svc = _services(request)
    try:
        ack = await case_commands.complete_task(svc.temporal, svc.store, who, task_id, body)
    except case_commands.NotFound as exc:
        return error_page(request, 404, str(exc), who=who)
    except case_commands.Forbidden as exc:
        return error_page(request, 403, str(exc), who=who)
    except case_commands.CommandRejected as exc:
        log.info("web visit result rejected", task_id=task_id, reason=str(exc))
        return await _task_page(request, who, task_id, entered, rejected=str(exc), status_code=422)
    except case_commands.Unavailable as exc:  # nothing was recorded: the form keeps the values
        log.warning("web visit result not delivered", task_id=task_id, reason=str(exc))
        return await _task_page(request, who, task_id, entered, rejected=str(exc), status_code=503)
    log.info("web visit recorded", task_id=task_id, case_id=ack.case_id, stage=ack.stage.value)
    query = urlencode({"recorded": "visit", "stage": ack.stage.value})
    return _see_other(href(request, f"/cases/{quote(ack.case_id, safe='')}?{query}"))


# -- case page ---------------------------------------------------------------------------------


@router.get("/cases/{case_id}")
async def case_page(
    request: Request,
    who: Who,
    case_id: PathId,
    recorded: QueryText = None,
    stage: QueryText = None,
) -> Response:
    svc = _services(request)
    try:
        detail = await case_views.case_detail(svc.db, svc.store, who, case_id, channel="web")
    except case_views.Invisible as exc:
        return error_page(request, 403, str(exc), who=who)
    if detail is None:
        return error_page(request, 404, f"case {case_id}", who=who)
    tr = lang_of(request)
    settings = svc.settings
    workflow_url = workflow_ui_url(
        settings.temporal_ui, settings.temporal_namespace, detail.workflow_id
    )
    flash_stage = stage if recorded == "visit" and stage in set(Stage) else None
    return render(
        request,
        "case.html",
        {
            "detail": detail,
            "case": detail.case,
            "awards": award_views(detail.case.programmes, tr)
            if any(isinstance(p, dict) for p in detail.case.programmes)
            else [],
            "entries": [entry_view(e, tr) for e in detail.timeline],
            "workflow_url": workflow_url,
            "flash_stage": flash_stage,
            "local_time": local_time,
        },
        who=who,
    )


# -- ops overview ------------------------------------------------------------------------------


@router.get("/ops")
async def ops_page(request: Request, who: Who) -> Response:
    svc = _services(request)
    overview = await case_views.overview(svc.db, who, temporal=svc.temporal)
    return render(
        request,
        "ops.html",
        {"o": overview, "local_time": local_time},
        who=who,
        nav="ops",
    )

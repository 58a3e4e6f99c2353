"""The HTTP API on real services: uvicorn in-process, Postgres, the event store, and cases on
Temporal's time-skipping server with the real activities (``tests.case_support``).

Agency events are stored and cases opened the way ingest does it; the projections the API reads
are brought up to date with ``project_all`` where ``outreach projections run`` would do it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from outreach.cases.access import revoke_token
from outreach.infra.settings import Settings
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import Stage
from tests.api_support import bearer, mint, mint_principal, project_all, serve_app
from tests.case_support import CaseRig, OpenedCase, case_rig


@dataclass
class Api:
    rig: CaseRig
    http: httpx.AsyncClient
    pool: asyncpg.Pool

    async def open_case(self, district: str = "yongding") -> OpenedCase:
        """A hospital bill of 150,000 out of pocket opens a case with a visit task."""
        case = await self.rig.hospital_case(district)
        await project_all(self.rig.store)
        return case

    async def get(self, path: str, token: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, headers=bearer(token), params=params)

    async def post(self, path: str, token: str, body: Any) -> httpx.Response:
        return await self.http.post(path, headers=bearer(token), json=body)

    async def projected(self, case: OpenedCase, token: str, stage: str) -> dict[str, Any]:
        """The case as ``GET /api/cases?household_id=`` lists it, once projected at ``stage``
        (the workflow's status moves before its events are recorded)."""
        deadline = time.monotonic() + 30
        while True:
            await project_all(self.rig.store)
            listed = await self.get("/api/cases", token, household_id=case.household_id)
            rows = [c for c in listed.json()["cases"] if c["case_id"] == case.case_id]
            if rows and rows[0]["stage"] == stage:
                row: dict[str, Any] = rows[0]
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"case not projected at {stage} within 30 s: {rows}")
            await asyncio.sleep(0.1)

    async def access_log(self, case_id: str) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT * FROM access_log WHERE case_id = $1 ORDER BY access_id", case_id
        )


@pytest_asyncio.fixture
async def api(
    time_skipping_env: WorkflowEnvironment,
    store: EventStore,
    pg_pool: asyncpg.Pool,
    settings: Settings,
) -> AsyncIterator[Api]:
    async with (
        case_rig(time_skipping_env, store) as rig,
        serve_app(settings, pg_pool, store, rig.client) as url,
        httpx.AsyncClient(base_url=url, timeout=120) as http,
    ):
        yield Api(rig, http, pg_pool)


def visit(task_day: Any, **changes: Any) -> dict[str, Any]:
    """A visit result body: four people, nobody able to work, no income, one home."""
    body: dict[str, Any] = {
        "visited_on": task_day.isoformat(),
        "found": True,
        "household_size": 4,
        "monthly_income_total": "0",
        "labor_capacity": ["none"] * 4,
        "consent_to_check": True,
        "assets": {"homes": 1},
        "notes": "家中无收入来源",
    }
    body.update(changes)
    return body


async def accepted_updates(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


# -- 401 ----------------------------------------------------------------------------------------


async def test_requests_without_a_valid_token_get_401(api: Api) -> None:
    token, who = await mint_principal(api.pool, "ops")
    assert (await api.get("/api/cases", token)).status_code == 200

    missing = await api.http.get("/api/cases")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    for header in (
        {"Authorization": "Bearer otk_" + "x" * 43},  # well-formed, unknown
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Basic {token}"},  # the right token, the wrong scheme
    ):
        response = await api.http.get("/api/tasks", headers=header)
        assert response.status_code == 401, header
    # authentication comes before the body's validation
    assert (await api.http.post("/api/tasks/t-1/complete", json={})).status_code == 401
    assert who.token_id is not None
    assert await revoke_token(api.pool, who.token_id)
    revoked = await api.get("/api/overview", token)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]
    assert "invalid_token" in revoked.headers["www-authenticate"]
    # health needs no token
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}


async def test_openapi_lists_the_contract_routes(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    routes = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert {
        ("/api/cases", "get"),
        ("/api/cases/{case_id}", "get"),
        ("/api/tasks", "get"),
        ("/api/tasks/{task_id}/complete", "post"),
        ("/api/cases/{case_id}/objections", "post"),
        ("/api/cases/{case_id}/approve", "post"),
        ("/healthz", "get"),
    } <= routes
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    errors = spec["paths"]["/api/tasks/{task_id}/complete"]["post"]["responses"]
    assert {"200", "401", "403", "404", "422", "503"} <= set(errors)
    # no CDN-backed documentation pages: the service loads nothing from other sites
    assert (await api.http.get("/docs")).status_code == 404
    visit_body = spec["components"]["schemas"]["VisitResultIn"]["properties"]
    assert {
        "visited_on",
        "found",
        "household_size",
        "monthly_income_total",
        "labor_capacity",
        "consent_to_check",
        "assets",
        "notes",
    } <= set(visit_body)


# -- 403 and 404 --------------------------------------------------------------------------------


async def test_districts_and_roles_are_enforced(api: Api) -> None:
    case = await api.open_case("yongding")
    mine = await mint(api.pool, "caseworker", "yongding")
    other = await mint(api.pool, "caseworker", "cili", "sangzhi")
    supervisor = await mint(api.pool, "supervisor", "yongding")
    ops = await mint(api.pool, "ops")
    body = visit(await api.rig.today())
    objection = {"summary": "neighbour reports a shop", "received_on": body["visited_on"]}

    # A caseworker of other districts neither sees nor acts on the case.
    assert (await api.get(f"/api/cases/{case.case_id}", other)).status_code == 403
    for path, payload in (
        (f"/api/tasks/{case.task_id}/complete", body),
        (f"/api/cases/{case.case_id}/objections", objection),
        (f"/api/cases/{case.case_id}/approve", {"approved": True}),
    ):
        response = await api.post(path, other, payload)
        assert response.status_code == 403, (path, response.text)
        assert "yongding" in response.json()["detail"]
    for path in ("/api/cases", "/api/tasks"):
        assert (await api.get(path, other, district="yongding")).status_code == 403
        listed = (await api.get(path, other)).json()
        assert case.case_id not in {row["case_id"] for row in next(iter(listed.values()))}
    assert case.case_id not in str((await api.get("/api/overview", other)).json())

    # Roles: a caseworker may not approve, ops may not act at all.
    approve = await api.post(f"/api/cases/{case.case_id}/approve", mine, {"approved": True})
    assert (
        approve.status_code == 403
        and "caseworker tokens may not approve" in approve.json()["detail"]
    )
    complete = await api.post(f"/api/tasks/{case.task_id}/complete", ops, body)
    assert (
        complete.status_code == 403
        and "ops tokens may not complete visit" in complete.json()["detail"]
    )
    objected = await api.post(f"/api/cases/{case.case_id}/objections", ops, objection)
    assert objected.status_code == 403

    # ... while the right tokens see it.
    assert (await api.get(f"/api/cases/{case.case_id}", ops)).status_code == 200
    tasks = (await api.get("/api/tasks", mine, district="yongding")).json()["tasks"]
    assert case.task_id in {t["task_id"] for t in tasks}
    assert (await api.get(f"/api/cases/{case.case_id}", supervisor)).status_code == 200

    # Unknown ids are 404, whoever asks.
    unknown = str(uuid.uuid4())
    assert (await api.get(f"/api/cases/{unknown}", mine)).status_code == 404
    assert (await api.post(f"/api/tasks/{unknown}/complete", mine, body)).status_code == 404
    assert (await api.post(f"/api/cases/{unknown}/objections", mine, objection)).status_code == 404
    assert (
        await api.post(f"/api/cases/{unknown}/approve", supervisor, {"approved": True})
    ).status_code == 404

    # None of it reached the case, and no refused read was logged.
    status = await api.rig.status(case.handle)
    assert status.stage == Stage.VISIT and status.open_task is not None
    assert status.open_task.task_id == case.task_id
    assert await accepted_updates(case.handle) == 0
    actors = {r["role"] for r in await api.access_log(case.case_id)}
    assert actors == {"ops", "supervisor"}


# -- access log and lookups ---------------------------------------------------------------------


async def test_reading_a_case_is_logged_and_lists_are_not(api: Api) -> None:
    case = await api.open_case("wulingyuan")
    token, who = await mint_principal(api.pool, "caseworker", "wulingyuan", name="wly-cw-7")

    found = (await api.get("/api/cases", token, household_id=case.household_id)).json()["cases"]
    assert [c["case_id"] for c in found] == [case.case_id]
    assert found[0]["district"] == "wulingyuan" and found[0]["status"] == "open"
    assert (await api.get("/api/cases", token, household_id="HH-000000-999999")).json() == {
        "cases": []
    }
    await api.get("/api/tasks", token)
    await api.get("/api/cases", token, status="open")
    await api.get("/api/overview", token)
    assert await api.access_log(case.case_id) == []  # lists carry no personal fields

    before = await api.pool.fetchval("SELECT now()")
    detail = (await api.get(f"/api/cases/{case.case_id}", token)).json()
    trigger = detail["timeline"][0]
    assert trigger["type"] == "medical.settlement.recorded" and trigger["has_personal"]
    assert trigger["personal"]["person"]["name"] == "张建国"
    assert "person" not in trigger["data"]  # personal fields only under "personal"

    (entry,) = await api.access_log(case.case_id)
    assert entry["actor"] == "wly-cw-7" and entry["token_id"] == who.token_id
    assert entry["role"] == "caseworker" and entry["channel"] == "api"
    assert entry["action"] == "case.read" and entry["household"] == case.household_key
    assert {"person.id_number", "person.name", "person.phone"} <= set(entry["fields"])
    assert entry["fields"] == detail["personal_shown"]
    assert before <= entry["at"] <= before + timedelta(minutes=1)
    # the household id itself is never written to the log
    assert case.household_id not in str(dict(entry))


# -- 422 ----------------------------------------------------------------------------------------


async def test_rejected_input_gets_422_with_the_reason_and_changes_nothing(api: Api) -> None:
    case = await api.open_case("sangzhi")
    cw = await mint(api.pool, "caseworker", "sangzhi")
    supervisor = await mint(api.pool, "supervisor", "sangzhi")
    today = await api.rig.today()
    complete = f"/api/tasks/{case.task_id}/complete"

    # Bodies that do not fit the schema: FastAPI's validation errors, per field.
    for bad, field in (
        ({k: v for k, v in visit(today).items() if k != "found"}, "found"),
        (visit(today, labor_capacity=["lots"] * 4), "labor_capacity"),
        (visit(today, household_size=0), "household_size"),
        (visit(today, monthly_income_total="-5"), "monthly_income_total"),
        (visit(today, visited_on="yesterday"), "visited_on"),
        (visit(today, surprise=1), "surprise"),
    ):
        response = await api.post(complete, cw, bad)
        assert response.status_code == 422, (field, response.text)
        assert field in str(response.json()["detail"]), response.text

    # Bodies the case's validator rejects: its reason in `detail`.
    for bad, reason in (
        (visit(today + timedelta(days=2)), "is in the future"),
        (visit(today, labor_capacity=["none"] * 3), "labor_capacity needs one entry per member"),
        (visit(today, household_size=None), "household_size is required"),
    ):
        response = await api.post(complete, cw, bad)
        assert response.status_code == 422, response.text
        assert reason in response.json()["detail"], response.text
    wrong_stage = await api.post(
        f"/api/cases/{case.case_id}/objections",
        cw,
        {"summary": "too early", "received_on": today.isoformat()},
    )
    assert wrong_stage.status_code == 422
    assert "objections are taken during publicity" in wrong_stage.json()["detail"]
    no_decision = await api.post(f"/api/cases/{case.case_id}/approve", supervisor, {})
    assert no_decision.status_code == 422
    assert "no decision awaits approval" in no_decision.json()["detail"]

    # Nothing changed: the task is still open, no update entered the case's history.
    await project_all(api.rig.store)
    tasks = (await api.get("/api/tasks", cw)).json()["tasks"]
    assert [t["status"] for t in tasks if t["task_id"] == case.task_id] == ["open"]
    status = await api.rig.status(case.handle)
    assert status.stage == Stage.VISIT and status.open_task is not None
    assert status.open_task.task_id == case.task_id
    assert await accepted_updates(case.handle) == 0
    types = [
        e["type"] for e in (await api.get(f"/api/cases/{case.case_id}", cw)).json()["timeline"]
    ]
    assert "VisitCompleted" not in types


# -- the whole case through the API -------------------------------------------------------------


async def test_a_case_from_visit_to_enrolment_through_the_api(
    api: Api, time_skipping_env: WorkflowEnvironment
) -> None:
    case = await api.open_case("yongding")
    cw = await mint(api.pool, "caseworker", "yongding", name="yd-cw-1")
    supervisor = await mint(api.pool, "supervisor", "yongding", name="yd-sup-1")
    ops = await mint(api.pool, "ops", name="ops-1")

    # The caseworker's inbox has the visit, due in the future, not overdue.
    tasks = (await api.get("/api/tasks", cw, status="open")).json()["tasks"]
    (task,) = [t for t in tasks if t["case_id"] == case.case_id]
    assert task["task_id"] == case.task_id and task["kind"] == "visit"
    assert task["overdue"] is False and task["due_at"] > task["created_at"]

    # The visit: four people, nobody able to work, no income.
    response = await api.post(
        f"/api/tasks/{case.task_id}/complete", cw, visit(await api.rig.today())
    )
    assert response.status_code == 200, response.text
    assert response.json()["case_id"] == case.case_id and response.json()["stage"] == "verify"
    status = await api.rig.until(case.handle, lambda st: st.awaiting == "approval")
    assert status.decision is not None and status.decision.approval_required

    # Means-tested awards wait for the supervisor.
    pending = await api.projected(case, cw, "approval")
    assert {p["programme"] for p in pending["programmes"]} == {"dibao", "temporary_assistance"}
    response = await api.post(
        f"/api/cases/{case.case_id}/approve",
        supervisor,
        {"approved": True, "decision_id": status.decision.decision_id, "comment": "ok"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == "publicity"
    await api.rig.until(case.handle, lambda st: st.publicity_ends_at is not None)

    # An objection during publicity re-opens verification with a new visit.
    response = await api.post(
        f"/api/cases/{case.case_id}/objections",
        cw,
        {
            "summary": "a neighbour says the spouse works",
            "received_on": (await api.rig.today()).isoformat(),
            "objection_id": "obj-api-1",
        },
    )
    assert response.status_code == 200, response.text
    ack = response.json()
    assert ack["stage"] == "verify" and ack["task_id"] not in (None, case.task_id)
    await api.projected(case, cw, "verify")
    tasks = (await api.get("/api/tasks", cw)).json()["tasks"]
    (reverify,) = [t for t in tasks if t["case_id"] == case.case_id]
    assert reverify["task_id"] == ack["task_id"] and reverify["kind"] == "reverify"

    # The re-visit finds the same; a second decision, approval, publicity, enrolment.
    response = await api.post(
        f"/api/tasks/{ack['task_id']}/complete",
        cw,
        visit(await api.rig.today(), notes="复核 配偶在家照顾病人 无工作"),
    )
    assert response.status_code == 200, response.text
    status = await api.rig.until(case.handle, lambda st: st.awaiting == "approval")
    assert status.decision is not None
    response = await api.post(
        f"/api/cases/{case.case_id}/approve",
        supervisor,
        {"approved": True, "decision_id": status.decision.decision_id},
    )
    assert response.status_code == 200, response.text
    outcome = await case.handle.result()  # the server skips the publicity period
    assert outcome.outcome == "enrolled"

    await api.projected(case, ops, "closed")
    detail = (await api.get(f"/api/cases/{case.case_id}", ops)).json()
    assert detail["status"] == "closed" and detail["outcome"] == "enrolled"
    assert detail["workflow_id"] == case.handle.id
    assert [t["status"] for t in detail["tasks"]] == ["completed", "completed"]
    timeline = detail["timeline"]
    assert [e["position"] for e in timeline] == sorted(e["position"] for e in timeline)
    types = [e["type"] for e in timeline]
    assert types[0] == "medical.settlement.recorded"
    assert types[1:] == [t for t, _ in await api.rig.events(case.household_key, case.case_id)]
    assert _subsequence(
        [
            "CaseOpened",
            "VisitScheduled",
            "VisitCompleted",
            "EligibilityAssessed",
            "ApprovalRequested",
            "ApprovalRecorded",
            "PublicityStarted",
            "ObjectionRaised",
            "VisitScheduled",
            "VisitCompleted",
            "EligibilityAssessed",
            "ApprovalRecorded",
            "PublicityStarted",
            "PublicityEnded",
            "EnrollmentFinalized",
            "CaseClosed",
        ],
        types,
    )
    decisions = [e for e in timeline if e["type"] == "EligibilityAssessed"]
    assert len(decisions) == 2
    trace = decisions[-1]["data"]["trace"]
    assert {check["rule"] for check in trace} >= {"dibao.income_below_standard"}
    standard = next(
        p
        for check in trace
        if check["rule"] == "dibao.income_below_standard"
        for p in check["parameters"]
        if "urban" in p["name"]
    )
    assert standard["value"] == "650"
    awards = {p["programme"]: p for p in decisions[-1]["data"]["programmes"]}
    assert awards["dibao"]["monthly_amount"] == "2600.00"
    objection = next(e for e in timeline if e["type"] == "ObjectionRaised")
    assert objection["personal"] == {"summary": "a neighbour says the spouse works"}
    recorded = [e for e in timeline if e["type"] == "ApprovalRecorded"]
    assert {e["data"]["supervisor"] for e in recorded} == {"yd-sup-1"}

    # The closed case takes no more input; ops see the enrolment.
    late = await api.post(f"/api/cases/{case.case_id}/approve", supervisor, {"approved": True})
    assert late.status_code == 422 and "closed" in late.json()["detail"]
    overview = (await api.get("/api/overview", ops)).json()
    assert overview["enrolments_by_programme"]["dibao"] >= 1
    assert overview["closed_by_outcome"]["enrolled"] >= 1
    log = await api.access_log(case.case_id)
    assert [(r["actor"], r["channel"]) for r in log] == [("ops-1", "api")]
    assert {"notes", "summary", "person.name"} <= set(log[0]["fields"])


def _subsequence(wanted: list[str], actual: list[str]) -> bool:
    rest = iter(actual)
    return all(item in rest for item in wanted)


async def test_a_shredded_household_shows_no_personal_fields_and_logs_no_read(api: Api) -> None:
    case = await api.open_case("cili")
    ops = await mint(api.pool, "ops")
    assert await api.rig.store.shred(case.household_key)

    detail = (await api.get(f"/api/cases/{case.case_id}", ops)).json()
    trigger = detail["timeline"][0]
    assert trigger["has_personal"] and trigger["personal"] == {"shredded": True}
    assert detail["personal_shown"] == []
    assert await api.access_log(case.case_id) == []
    assert [t["type"] for t in detail["timeline"][1:3]] == ["CaseOpened", "VisitScheduled"]

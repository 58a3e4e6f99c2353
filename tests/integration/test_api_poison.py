"""Hostile requests to the real HTTP API and page: a 4xx with the reason, never a 500, nothing
changed, and the kept-alive connection still serves the next request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from outreach.web.session import SESSION_COOKIE
from tests.api_support import bearer, mint
from tests.integration.test_api import Api, accepted_updates, api, visit
from tests.integration.test_web_pages import DISTRICT, Site, _csrf, _signed_in, site

__all__ = ["api", "site"]  # the fixtures, shared with test_api and test_web_pages

MIB = 1024 * 1024


def _peer(response: httpx.Response) -> object:
    """The client end of the connection that carried ``response``."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


async def test_nul_ids_and_filters_huge_offsets_and_non_finite_numbers_get_422(api: Api) -> None:
    """Regression (poison input #9): ``%00`` in path ids and in ``district=``/``stage=``
    (``CharacterNotInRepertoireError`` from Postgres), ``offset=9223372036854775808`` (int64
    overflow) and ``NaN``/``Infinity``/``1e309`` in JSON bodies (the 422 echoing them could not
    be encoded) answered 500, and the kept-alive connection was reset."""
    case = await api.open_case()
    caseworker = await mint(api.pool, "caseworker", "yongding")
    supervisor = await mint(api.pool, "supervisor", "yongding")
    ops = await mint(api.pool, "ops")
    today = await api.rig.today()
    day = today.isoformat()
    complete = f"/api/tasks/{case.task_id}/complete"
    approve = f"/api/cases/{case.case_id}/approve"

    answers: dict[str, httpx.Response] = {}
    for name, path, params in [
        ("case id", "/api/cases/a%00b", {}),
        ("case id length", "/api/cases/" + "a" * 101, {}),
        ("cases district", "/api/cases", {"district": "yong\x00ding"}),
        ("cases stage", "/api/cases", {"stage": "visit\x00"}),
        ("cases household_id", "/api/cases", {"household_id": "HH\x00"}),
        ("tasks district", "/api/tasks", {"district": "\x00"}),
        ("offset", "/api/cases", {"offset": "9223372036854775808"}),
    ]:
        answers[name] = await api.http.get(path, headers=bearer(ops), params=params)
    answers["task id"] = await api.post(
        f"/api/tasks/{case.task_id}%00/complete", caseworker, visit(today)
    )
    answers["approve case id"] = await api.post(
        f"/api/cases/{case.case_id}%00/approve", supervisor, {"approved": True}
    )

    def raw(path: str, token: str, body: bytes) -> Any:
        return api.http.post(
            path, headers={**bearer(token), "content-type": "application/json"}, content=body
        )

    found = (
        b'{"visited_on": "' + day.encode() + b'", "found": true, "household_size": 4,'
        b' "labor_capacity": "none", "consent_to_check": true, '
    )
    for number in ("NaN", "Infinity", "-Infinity", "1e309"):
        figure = number.encode()
        answers[f"income {number}"] = await raw(
            complete, caseworker, found + b'"monthly_income_total": ' + figure + b"}"
        )
        answers[f"assets {number}"] = await raw(
            complete,
            caseworker,
            found + b'"monthly_income_total": 0, "assets": {"financial_assets": ' + figure + b"}}",
        )
        answers[f"approved {number}"] = await raw(
            approve, supervisor, b'{"approved": ' + figure + b"}"
        )

    assert {n: a.status_code for n, a in answers.items()} == dict.fromkeys(answers, 422)
    for name, answer in answers.items():
        problems = answer.json()["detail"]  # FastAPI's list of the fields that do not fit
        assert isinstance(problems, list) and problems, (name, problems)
        assert all("input" not in p for p in problems), name  # never echoed
    assert answers["offset"].json()["detail"][0]["loc"] == ["query", "offset"]
    assert answers["task id"].json()["detail"][0]["loc"] == ["path", "task_id"]
    assert answers["income NaN"].json()["detail"][0]["loc"] == ["body", "monthly_income_total"]
    assert answers["assets 1e309"].json()["detail"][0]["loc"] == [
        "body",
        "assets",
        "financial_assets",
    ]

    # nothing reached the case, and one kept-alive connection carried all of it
    assert await accepted_updates(case.handle) == 0
    open_tasks = (await api.get("/api/tasks", caseworker)).json()["tasks"]
    assert case.task_id in {t["task_id"] for t in open_tasks}
    after = await api.http.get("/healthz")
    assert after.status_code == 200
    assert {_peer(a) for a in [*answers.values(), after]} == {_peer(after)}


async def test_bodies_over_the_limit_get_413_before_they_are_read(api: Api) -> None:
    """Regression (poison input #10): three 10 MB bodies made ``/healthz`` take 8.3 s (parsed
    on the event loop ingest and the worker share). A body over the limit (1 MiB by default) is
    refused by its ``Content-Length`` before a byte of it is read or, sent in chunks, as soon as
    the bytes pass the limit; the page's forms share the limit."""
    case = await api.open_case()
    caseworker = await mint(api.pool, "caseworker", "yongding")
    auth = {**bearer(caseworker), "content-type": "application/json"}
    path = f"/api/tasks/{case.task_id}/complete"

    # 10 MB announced, a few bytes sent: the answer comes without waiting for the rest
    url = httpx.URL(str(api.http.base_url))
    assert url.host and url.port
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\n{head}"
            f"Content-Length: {10 * MIB}\r\n\r\n".encode()
            + b'{"notes": "xxxx'
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), timeout=10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"application/json" in answer and b"larger than 1,048,576 bytes" in answer

    big = b'{"notes": "' + b"x" * (3 * MIB) + b'"}'
    declared = await api.http.post(path, headers=auth, content=big)
    assert declared.status_code == 413
    assert declared.json() == {"detail": "the request body is larger than 1,048,576 bytes"}
    healthy = await api.http.get("/healthz")  # the rest was dropped, the connection kept
    assert healthy.status_code == 200 and _peer(healthy) == _peer(declared)

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    async with httpx.AsyncClient(
        base_url=str(api.http.base_url), timeout=60, cookies={SESSION_COOKIE: caseworker}
    ) as fresh:
        chunked = await fresh.post(path, headers=auth, content=chunks(big))
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 413
        assert chunked.json() == declared.json()
        # the page's visit form (signed in): the same limit, before the form is parsed
        form = await fresh.post(
            f"/tasks/{case.task_id}",
            headers={"content-type": "application/x-www-form-urlencoded"},
            content=chunks(b"notes=" + b"x" * (2 * MIB)),
        )
        assert form.status_code == 413

    assert await accepted_updates(case.handle) == 0
    assert (await api.http.get("/healthz")).status_code == 200


async def test_text_and_ids_past_their_bounds_or_holding_nul_get_422(api: Api) -> None:
    """Regression (poison input #10): request fields were not all bounded: a NUL in a visit's
    notes was taken (200) and then the case could not store its events (PostgreSQL refuses
    ``\\u0000``, the activity retried for ever); ``decision_id``, ``objection_id``,
    ``labor_capacity`` and the assets had no bound. Each now gets 422 naming the field."""
    case = await api.open_case()
    caseworker = await mint(api.pool, "caseworker", "yongding")
    supervisor = await mint(api.pool, "supervisor", "yongding")
    day = await api.rig.today()
    complete = f"/api/tasks/{case.task_id}/complete"
    approve = f"/api/cases/{case.case_id}/approve"
    objections = f"/api/cases/{case.case_id}/objections"
    objection = {"summary": "邻居反映", "received_on": day.isoformat()}

    sent: list[tuple[str, str, str, dict[str, Any]]] = [
        ("notes", complete, caseworker, visit(day, notes="记" * 4001)),
        ("comment", approve, supervisor, {"comment": "x" * 4001}),
        ("summary", objections, supervisor, {**objection, "summary": "x" * 4001}),
        ("decision_id", approve, supervisor, {"decision_id": "d" * 101}),
        ("decision_id", approve, supervisor, {"decision_id": "d\x00"}),
        ("objection_id", objections, supervisor, {**objection, "objection_id": "o\x01"}),
        ("comment", approve, supervisor, {"comment": "ok\x00"}),
        ("summary", objections, supervisor, {**objection, "summary": "a\x00b"}),
        ("labor_capacity", complete, caseworker, visit(day, labor_capacity=["none"] * 31)),
        ("monthly_income_total", complete, caseworker, visit(day, monthly_income_total="1e999")),
        ("assets", complete, caseworker, visit(day, assets={"financial_assets": "1e999"})),
        # last: the old code took it (200), and then the case could not store its events
        ("notes", complete, caseworker, visit(day, notes="家中\x00无人")),
    ]
    answers = [(field, await api.post(path, token, body)) for field, path, token, body in sent]

    # FastAPI's list of the fields that do not fit, not the case's reason: nothing reached it
    got = [(field, a.status_code, a.json()["detail"]) for field, a in answers]
    assert [(f, code, isinstance(detail, list)) for f, code, detail in got] == [
        (f, 422, True) for f, *_ in got
    ]
    assert [detail[0]["loc"][:2] for _, _, detail in got] == [["body", f] for f, *_ in got]
    assert await accepted_updates(case.handle) == 0


async def test_the_page_refuses_nul_ids_filters_and_form_text_with_a_readable_422(
    site: Site,
) -> None:
    """Regression (poison input #9): ``%00`` in the page's ids and filters answered 500 as in
    the API, and a NUL in the visit form's notes was recorded (and the case could not store it).
    The page takes the API's bounds and says what does not fit on a page of its own."""
    async with _signed_in(site, "caseworker", DISTRICT) as http:
        for path in (
            "/cases/a%00b",
            "/tasks/a%00b",
            "/tasks?district=%00",
            f"/cases/{site.case_id}?stage=%00",
        ):
            answer = await http.get(path)
            assert answer.status_code == 422, (path, answer.status_code)
            assert answer.headers["content-type"].startswith("text/html"), path
            assert "请求无效" in answer.text, path

        form = await http.get(f"/tasks/{site.task_id}")
        entry = {
            "csrf": _csrf(form.text),
            "visited_on": (await site.rig.today()).isoformat(),
            "found": "yes",
            "household_size": "1",
            "monthly_income_total": "0",
            "labor_capacity": "none",
            "consent_to_check": "yes",
        }
        for changes, problem in [
            ({"notes": "家中\x00无人"}, "notes: Value error, must not contain a NUL character"),
            ({"monthly_income_total": "1e999999"}, "monthly_income_total: Input should be less"),
        ]:
            refused = await http.post(f"/tasks/{site.task_id}", data={**entry, **changes})
            assert refused.status_code == 422, (changes, refused.status_code)
            assert f'<li class="reason">{problem}' in refused.text, changes
    assert await accepted_updates(site.handle) == 0

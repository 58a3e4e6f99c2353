# ruff: noqa: RUF001  (the page speaks Chinese: full-width punctuation in its labels)
"""The web page over plain HTTP (httpx) on real services: sign-in and its cookie, districts
(403 pages), unknown ids (404 pages), CSRF, forms the page itself refuses, roles, language,
headers. The browser test (``test_web_browser.py``) walks the happy path in Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle

from outreach.events import samples as s
from outreach.infra.settings import Settings
from outreach.projections import CasesProjection, subscription_for
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import Stage
from tests.api_support import mint, serve_app
from tests.case_support import CaseRig, case_rig, new_household

DISTRICT = "cili"
OTHER = "wulingyuan"


@dataclass(frozen=True)
class Site:
    base_url: str
    rig: CaseRig
    handle: WorkflowHandle[Any, Any]
    case_id: str
    task_id: str
    pool: asyncpg.Pool


@pytest_asyncio.fixture
async def site(
    settings: Settings, pg_pool: asyncpg.Pool, store: EventStore, temporal_client: Client
) -> AsyncIterator[Site]:
    """The app on a free port, and one case in ``DISTRICT`` waiting for its visit."""
    async with (
        case_rig(temporal_client, store) as rig,
        serve_app(settings, pg_pool, store, temporal_client) as base_url,
    ):
        household_id, id_number = new_household(DISTRICT)
        trigger = await rig.agency_event(
            s.certificate_issued(
                household_id=household_id, id_number=id_number, district=DISTRICT, grade=1
            )
        )
        handle = await rig.open_case(trigger)
        task_id = await rig.open_task(handle)
        case_id = (await rig.status(handle)).case_id
        await rig.project()
        await subscription_for(store, CasesProjection()).catch_up()
        yield Site(base_url, rig, handle, case_id, task_id, pg_pool)


@asynccontextmanager
async def _signed_in(site: Site, role: str, *districts: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with a session for a new token of ``role``."""
    token = await mint(site.pool, role, *districts)
    async with httpx.AsyncClient(base_url=site.base_url) as client:
        answer = await client.post("/signin", data={"token": token, "next": "/"})
        assert answer.status_code == 303, answer.text
        yield client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def test_signing_in_sets_a_strict_http_only_cookie_and_signing_out_clears_it(
    site: Site,
) -> None:
    async with httpx.AsyncClient(base_url=site.base_url) as http:
        # without a session every page sends us to sign in, remembering where we were going
        answer = await http.get(f"/cases/{site.case_id}")
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/signin?next=%2Fcases%2F{site.case_id}"
        page = await http.get("/signin")
        assert page.status_code == 200
        assert '<html lang="zh-CN">' in page.text and 'for="token"' in page.text

        wrong = await http.post("/signin", data={"token": "otk_unknown", "next": "/"})
        assert wrong.status_code == 401
        assert "令牌无效或已被吊销" in wrong.text
        assert "set-cookie" not in wrong.headers

        token = await mint(site.pool, "caseworker", DISTRICT)
        foreign = await http.post(
            "/signin", data={"token": token}, headers={"Origin": "http://evil.example"}
        )
        assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
        # ``next`` never leads off the site
        answer = await http.post("/signin", data={"token": token, "next": "//evil.example/x"})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("outreach_session=otk_")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain http here; https requests get Secure

        inbox = await http.get("/")
        assert inbox.status_code == 200
        assert f'data-task-id="{site.task_id}"' in inbox.text
        assert "我的走访任务" in inbox.text

        # signing out needs the session's CSRF token, then the cookie is gone
        refused = await http.post("/signout", data={"csrf": "0" * 64})
        assert refused.status_code == 403
        out = await http.post("/signout", data={"csrf": _csrf(inbox.text)})
        assert out.status_code == 303 and out.headers["location"] == "/signin?out=1"
        assert 'outreach_session=""' in out.headers["set-cookie"]
        assert (await http.get("/")).status_code == 303


async def test_another_districts_case_and_task_get_a_readable_403_and_unknown_ids_a_404(
    site: Site,
) -> None:
    async with _signed_in(site, "caseworker", OTHER) as http:
        for path in (f"/cases/{site.case_id}", f"/tasks/{site.task_id}", f"/?district={DISTRICT}"):
            answer = await http.get(path)
            assert answer.status_code == 403, path
            assert "无权访问" in answer.text and "不在你的管辖区县" in answer.text
            assert "<nav" in answer.text  # still the site's page, with its navigation
        inbox = await http.get("/")
        assert site.task_id not in inbox.text
        for path in ("/cases/no-such-case", "/tasks/no-such-task"):
            answer = await http.get(path)
            assert answer.status_code == 404, path
            assert "未找到" in answer.text
        # nothing personal was read: no access-log entry for this case
        logged = await site.pool.fetchval(
            "SELECT count(*) FROM access_log WHERE case_id = $1", site.case_id
        )
        assert logged == 0


async def test_the_inbox_filters_by_district(site: Site) -> None:
    async with _signed_in(site, "caseworker", DISTRICT, OTHER) as http:
        everything = await http.get("/")
        assert f'data-task-id="{site.task_id}"' in everything.text
        assert f'<option value="{DISTRICT}"' in everything.text
        assert f'<option value="{OTHER}"' in everything.text
        mine = await http.get(f"/tasks?district={DISTRICT}")
        assert f'data-task-id="{site.task_id}"' in mine.text
        assert f'<option value="{DISTRICT}" selected>' in mine.text
        other = await http.get(f"/tasks?district={OTHER}")
        assert other.status_code == 200 and site.task_id not in other.text


async def test_visit_form_refuses_posts_without_csrf_and_keeps_entries_it_cannot_use(
    site: Site,
) -> None:
    async with _signed_in(site, "caseworker", DISTRICT) as http:
        form = await http.get(f"/tasks/{site.task_id}")
        assert form.status_code == 200
        assert (
            'for="household_size"' in form.text
            and "请勿填写姓名、身份证号、电话或住址" in form.text
        )
        csrf = _csrf(form.text)
        entry = {
            "visited_on": (await site.rig.today()).isoformat(),
            "found": "yes",
            "household_size": "1",
            "monthly_income_total": "0",
            "labor_capacity": "none",
            "consent_to_check": "yes",
            "notes": "ok",
        }
        missing = await http.post(f"/tasks/{site.task_id}", data=entry)
        assert missing.status_code == 403 and "表单已过期" in missing.text
        forged = await http.post(
            f"/tasks/{site.task_id}",
            data={**entry, "csrf": csrf},
            headers={"Origin": "http://evil.example"},
        )
        assert forged.status_code == 403
        # not a number: the page says so (422) and shows what was typed; the case never hears
        typo = await http.post(
            f"/tasks/{site.task_id}",
            data={**entry, "csrf": csrf, "monthly_income_total": "12o0"},
        )
        assert typo.status_code == 422
        assert "monthly_income_total" in typo.text and 'value="12o0"' in typo.text
        status = await site.rig.status(site.handle)
        assert status.stage == Stage.VISIT and status.open_task is not None
        assert status.open_task.task_id == site.task_id


async def test_ops_see_everything_but_may_not_record_a_visit(site: Site) -> None:
    async with _signed_in(site, "ops") as http:
        overview = await http.get("/ops")
        assert overview.status_code == 200
        assert "运行概况" in overview.text and 'id="deadlettered"' in overview.text
        case = await http.get(f"/cases/{site.case_id}")
        assert case.status_code == 200
        assert "残联：残疾证核发" in case.text and 'data-type="VisitScheduled"' in case.text
        form = await http.get(f"/tasks/{site.task_id}")
        assert form.status_code == 200
        assert "只能查看" in form.text and 'id="visit-form"' not in form.text
        answer = await http.post(
            f"/tasks/{site.task_id}",
            data={"csrf": _csrf(form.text), "visited_on": "2026-01-01", "found": "no"},
        )
        assert answer.status_code == 403
        assert "may not complete visit" in answer.text
    # the case page showed personal fields to ops: recorded as a web read
    row = await site.pool.fetchrow(
        "SELECT role, action, fields FROM access_log WHERE case_id = $1 AND channel = 'web'",
        site.case_id,
    )
    assert row is not None and row["role"] == "ops" and row["action"] == "case.read"
    assert "person.id_number" in row["fields"]


async def test_language_switch_headers_static_files_and_no_web_routes_in_openapi(
    site: Site,
) -> None:
    async with _signed_in(site, "caseworker", DISTRICT) as http:
        english = await http.get("/tasks?lang=en")
        assert '<html lang="en">' in english.text and "My visit tasks" in english.text
        assert "lang=en" in english.headers["set-cookie"]
        remembered = await http.get(f"/cases/{site.case_id}")
        assert '<html lang="en">' in remembered.text and "Timeline" in remembered.text
        back = await http.get("/?lang=zh-CN")
        assert '<html lang="zh-CN">' in back.text
        headers = back.headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
        css = await http.get("/static/style.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        for asset in re.findall(r'(?:href|src)="([^"]+)"', back.text):
            assert not asset.startswith(("http://", "https://", "//")), asset  # no CDN
        spec = (await http.get("/openapi.json")).json()
        assert "/api/tasks/{task_id}/complete" in spec["paths"]
        assert not {"/", "/tasks", "/tasks/{task_id}", "/signin", "/ops"} & set(spec["paths"])

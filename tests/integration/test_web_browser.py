# ruff: noqa: RUF001  (the page speaks Chinese: full-width punctuation in its labels)
"""The caseworkers' page in a real browser (Debian's Chromium, driven by Playwright) on real
services: the session's Postgres and Temporal dev server with a case worker, the app served by
uvicorn. A caseworker signs in with a token, finds the overdue task in the inbox, records the
visit through the form (first with a date the case's validator rejects), and sees the case
advance on its page: a later stage, ``VisitCompleted`` and the decision trace in the timeline.

On a phone-sized screen (375x667), with the keyboard. A failing test leaves a screenshot and
the page's HTML in its pytest tmp dir.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect
from temporalio.client import Client, WorkflowHandle

from outreach.infra.settings import Settings
from outreach.policy.loader import parse_policy
from outreach.projections import CasesProjection, subscription_for
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import Stage
from tests.api_support import mint_principal, serve_app
from tests.case_support import CaseRig, case_rig

CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# The visit is overdue two seconds after it opens; nothing else fires during the test.
POLICY = parse_policy(
    """
[durations]
reminder_interval = "PT10M"
visit_sla = "PT2S"
publicity = "PT1H"
max_reminders = 3
""",
    source="test_web_browser",
)

PHONE: ViewportSize = {"width": 375, "height": 667}
TIMEOUT_MS = 15_000


def chromium_path() -> str:
    """Debian's Chromium; the test fails (never skips) without it."""
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists() and shutil.which(candidate):
            return candidate
    pytest.fail(
        "Debian's chromium is not installed (looked for "
        + ", ".join(CHROMIUM_CANDIDATES)
        + "): install it with `apt-get install -y --no-install-recommends chromium` "
        "(`python3 dev.py test` does this when run as root). The browser test needs it.",
        pytrace=False,
    )


def test_without_chromium_the_browser_test_fails_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM_CANDIDATES", (str(tmp_path / "chromium"),))
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y --no-install-recommends"):
        chromium_path()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (called in the test body: a missing browser FAILS it)."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


async def _catch_up(rig: CaseRig, store: EventStore) -> None:
    await rig.project()
    await subscription_for(store, CasesProjection()).catch_up()


async def _no_horizontal_scroll(page: Page) -> None:
    widths = await page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[1], (
        f"{page.url} scrolls sideways at {widths[1]}px: page is {widths[0]}px wide"
    )


async def _until_page(
    page: Page,
    catch_up: Callable[[], Awaitable[None]],
    ready: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 30.0,
    what: str,
) -> None:
    """Bring the projections up to date and reload until ``ready()`` holds (polling)."""
    deadline = time.monotonic() + timeout
    while True:
        await catch_up()
        await page.reload()
        if await ready():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not shown within {timeout}s on {page.url}")
        await asyncio.sleep(0.25)


async def test_caseworker_signs_in_records_a_visit_and_sees_the_case_advance(
    settings: Settings,
    pg_pool: asyncpg.Pool,
    store: EventStore,
    temporal_client: Client,
    tmp_path: Path,
) -> None:
    district = "sangzhi"
    token, principal = await mint_principal(pg_pool, "caseworker", district)
    async with (
        chromium() as browser,
        case_rig(temporal_client, store, policy=POLICY) as rig,
        serve_app(settings, pg_pool, store, temporal_client) as base_url,
    ):
        opened = await rig.hospital_case(district, out_of_pocket=120_000)
        handle, task_id, case_id = opened.handle, opened.task_id, opened.case_id
        await rig.until(handle, lambda st: st.overdue, what="the visit overdue")
        await _catch_up(rig, store)

        context = await browser.new_context(viewport=PHONE, locale="en-US")  # Chinese regardless
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        try:
            await _walk_through(
                page,
                base_url,
                token,
                OpenCase(settings, rig, store, handle, case_id, task_id),
            )
        except Exception:
            await page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            (tmp_path / "failure.html").write_text(await page.content())
            raise
        finally:
            await context.close()

    # Reading the case page's personal fields was recorded: who, what, when, through the page.
    logged = await pg_pool.fetch(
        "SELECT actor, token_id, role, action, fields FROM access_log"
        " WHERE case_id = $1 AND channel = 'web' ORDER BY at",
        case_id,
    )
    assert logged, "no access-log entry for the case page"
    assert {r["actor"] for r in logged} == {principal.name}
    assert {r["token_id"] for r in logged} == {principal.token_id}
    fields = set().union(*(set(r["fields"]) for r in logged))
    assert "person.id_number" in fields and "notes" in fields


@dataclass(frozen=True)
class OpenCase:
    settings: Settings
    rig: CaseRig
    store: EventStore
    handle: WorkflowHandle[Any, Any]
    case_id: str
    task_id: str


async def _walk_through(page: Page, base_url: str, token: str, case: OpenCase) -> None:
    rig, store, task_id, case_id = case.rig, case.store, case.task_id, case.case_id
    # -- signing in: the inbox sends us to the sign-in page first -------------------------------
    await page.goto(base_url + "/")
    await expect(page).to_have_url(base_url + "/signin?next=%2F")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    # the first Tab reaches the skip link
    await page.keyboard.press("Tab")
    focused = await page.evaluate("() => document.activeElement.textContent")
    assert focused.strip() == "跳到主要内容"
    token_field = page.get_by_label("访问令牌")
    await token_field.fill("otk_not-a-real-token")
    await token_field.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("令牌无效")
    await page.get_by_label("访问令牌").fill(token)
    await page.get_by_label("访问令牌").press("Enter")

    # -- the inbox: my district's open visits, the overdue one marked in words ------------------
    await expect(page).to_have_url(base_url + "/")
    await expect(page.get_by_role("heading", name="我的走访任务")).to_be_visible()
    row = page.locator(f"tr[data-task-id='{task_id}']")
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("已逾期")
    await expect(row).to_contain_text("sangzhi")
    await expect(row).to_contain_text("入户走访")
    await _no_horizontal_scroll(page)

    # -- the visit form, by keyboard: focus the row's link and press Enter ---------------------
    link = row.get_by_role("link", name="填写走访结果")
    await link.focus()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{base_url}/tasks/{task_id}")
    await expect(page.get_by_role("heading", name="记录走访结果")).to_be_visible()
    await expect(page.get_by_text("请勿填写姓名、身份证号、电话或住址。")).to_be_visible()
    await _no_horizontal_scroll(page)
    today = (await rig.today()).isoformat()
    await expect(page.get_by_label("走访日期")).to_have_value(today)

    # First a date before the case opened: the case's validator refuses, the form says why
    # (HTTP 422) and keeps what was entered.
    await page.get_by_label("走访日期").fill("2000-01-01")
    await page.get_by_label("见到了").check()
    size = page.get_by_label("家庭人口数")
    await size.fill("2")  # the script adds the second member's row
    await expect(page.locator("#labor-rows select")).to_have_count(2)
    await page.get_by_label("家庭月总收入（元）").fill("0")
    await page.get_by_label("成员 1").select_option("none")
    await page.get_by_label("成员 2").select_option("partial")
    consent = page.get_by_label("住户同意进行家庭经济状况核对")
    await consent.focus()
    await page.keyboard.press("Space")
    await expect(consent).to_be_checked()
    await page.get_by_label("住房（套）").fill("1")
    await page.get_by_label("备注").fill("家中无稳定收入")
    submit = page.get_by_role("button", name="提交走访结果")
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await submit.focus()
        await page.keyboard.press("Enter")
    assert (await posted.value).status == 422
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("未能提交，案件未作任何更改")
    await expect(alert).to_contain_text("visited_on 2000-01-01 is before the case opened")
    await expect(page.get_by_label("家庭人口数")).to_have_value("2")
    await expect(page.get_by_label("成员 2")).to_have_value("partial")
    await expect(page.get_by_label("备注")).to_have_value("家中无稳定收入")
    await expect(page.get_by_label("住户同意进行家庭经济状况核对")).to_be_checked()
    await _no_horizontal_scroll(page)
    unchanged = await rig.status(case.handle)
    assert unchanged.stage == Stage.VISIT and unchanged.open_task is not None
    assert unchanged.open_task.task_id == task_id

    # Then today's date: recorded, and we land on the case page (Post/Redirect/Get).
    await page.get_by_label("走访日期").fill(today)
    await page.get_by_role("button", name="提交走访结果").click()
    await expect(page).to_have_url(
        f"{base_url}/cases/{case_id}?recorded=visit&stage=verify", timeout=TIMEOUT_MS
    )
    await expect(page.locator("#flash")).to_contain_text("走访结果已提交")
    await expect(page.locator("#flash")).to_contain_text("核对")

    # -- the case advances: catch up the projections until the page shows it --------------------
    past_visit = {Stage.VERIFY, Stage.DECIDE, Stage.APPROVAL, Stage.PUBLICITY, Stage.ENROL}

    async def advanced() -> bool:
        stage = await page.locator("#case-stage").get_attribute("data-stage")
        assessed = await page.locator("li[data-type='EligibilityAssessed']").count()
        return stage in past_visit and assessed == 1

    await _until_page(page, lambda: _catch_up(rig, store), advanced, what="the case past its visit")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    visit = page.locator("li[data-type='VisitCompleted']")
    await expect(visit).to_have_count(1)
    await expect(visit.locator(".event-label")).to_have_text("完成入户走访")
    await expect(visit).to_contain_text("无劳动能力、部分劳动能力")
    # the timeline runs oldest first: the visit comes after the case opened
    types = await page.locator("ol.timeline > li").evaluate_all(
        "items => items.map(i => i.dataset.type)"
    )
    assert types.index("CaseOpened") < types.index("VisitCompleted")
    assert types.index("VisitCompleted") < types.index("EligibilityAssessed")
    # the decision trace as a table: rule, result, inputs, parameters with date and district key
    trace = page.locator("li[data-type='EligibilityAssessed'] table.trace")
    await expect(trace.get_by_role("columnheader", name="规则")).to_be_visible()
    await expect(trace).to_contain_text("dibao")
    await expect(trace).to_contain_text("✓ 符合")
    await expect(trace).to_contain_text("自 2023-01-01")
    await expect(trace).to_contain_text("适用 default")
    # personal fields: the visit's notes, decrypted for this reader (and logged)
    await visit.locator("summary").click()
    await expect(visit.locator("details.personal")).to_contain_text("家中无稳定收入")
    # the case's execution history in Temporal's UI
    if case.settings.temporal_ui:
        await expect(page.locator("#workflow-link")).to_have_attribute(
            "href",
            f"{case.settings.temporal_ui.rstrip('/')}/namespaces/"
            f"{case.settings.temporal_namespace}/workflows/{case.handle.id}",
        )
    else:
        await expect(page.locator("#workflow-link")).to_have_count(0)
    await _no_horizontal_scroll(page)

    stage_label = (await page.locator("#case-stage").inner_text()).strip()

    # -- English by the switch, and back --------------------------------------------------------
    await page.get_by_role("link", name="切换到英文").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    await expect(visit.locator(".event-label")).to_have_text("Visit completed")
    await page.goto(base_url + "/tasks")  # the choice is remembered (cookie)
    await expect(page.get_by_role("heading", name="My visit tasks")).to_be_visible()
    await expect(page.locator(f"tr[data-task-id='{task_id}']")).to_have_count(0)
    await page.get_by_role("link", name="Switch to Chinese").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    # -- ops overview, then sign out ------------------------------------------------------------
    await page.get_by_role("link", name="运行概况").click()
    await expect(page.get_by_role("heading", name="运行概况", exact=True)).to_be_visible()
    await expect(page.locator("#deadlettered")).to_have_text(re.compile(r"^\d+$"))
    # the case's stage is counted among the open cases
    by_stage = page.locator("section[aria-labelledby='by-stage']")
    await expect(by_stage.get_by_role("rowheader", name=stage_label)).to_be_visible()
    await _no_horizontal_scroll(page)
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.get_by_role("status")).to_contain_text("你已退出登录")
    await page.goto(base_url + "/tasks")
    await expect(page).to_have_url(base_url + "/signin?next=%2Ftasks")

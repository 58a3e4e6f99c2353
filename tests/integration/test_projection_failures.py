"""An event a projection can never apply is recorded and stepped over, on the real Postgres:
the read model goes on with the events behind it, and ops can list what was skipped.

The events are appended straight to the store, as events an older ingest let in: the store is
append-only, so the projections must survive them whatever the edge refuses today.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import timedelta

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from outreach.cli.main import build_parser
from outreach.infra.settings import Settings
from outreach.projections import (
    CasesProjection,
    HouseholdFactsProjection,
    rebuild,
    subscription_for,
)
from outreach.projections.case_tasks import VisitTasksProjection
from outreach.store.event_store import NO_STREAM, EventStore, NewEvent
from outreach.store.personal_data import split_personal
from tests.api_support import bearer, mint, serve_app
from tests.integration.test_projections import T0, ev, fact_event


def _count_fact(household_id: str, count: int) -> NewEvent:
    data = {
        "household": {"household_id": household_id, "district": "yongding", "urban": True},
        "fact": {"kind": "vehicle", "count": count},
    }
    stored = split_personal(data, ["household.household_id"])
    return NewEvent(uuid.uuid4(), "facts.household.reported", stored, T0 + timedelta(hours=1))


async def _skipped(pool: asyncpg.Pool, subscription: str) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT event_id, reason FROM projection_failures WHERE subscription = $1", subscription
    )
    return {str(r["event_id"]): r["reason"] for r in rows}


async def test_a_count_past_integer_is_stepped_over_and_facts_go_on(
    store: EventStore,
    pg_pool: asyncpg.Pool,
    unique: str,
    settings: Settings,
    temporal_client: Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression (poison input #5): ``fact.count`` = 3,000,000,000 stopped ``household_facts``
    for good (``value out of int32 range``), so screening read stale facts from then on."""
    facts = subscription_for(store, HouseholdFactsProjection())
    await facts.catch_up()
    bad_key, good_key = store.stream_key(f"bad-{unique}"), store.stream_key(f"good-{unique}")
    bad = _count_fact(f"bad-{unique}", 3_000_000_000)
    await store.append(bad_key, [bad], NO_STREAM)
    await store.append(good_key, [fact_event(f"good-{unique}", "income", "800", 2)], NO_STREAM)

    await facts.catch_up()

    kinds = await pg_pool.fetch("SELECT kind FROM household_facts WHERE household = $1", good_key)
    assert [r["kind"] for r in kinds] == ["income"]
    skipped = await _skipped(pg_pool, "projection:household_facts")
    assert "value out of int32 range" in skipped[str(bad.event_id)]
    assert await facts.catch_up() == 0  # stepped over for good, not read again

    # a rebuild records it again (once) and still takes in the rest
    await rebuild(store, HouseholdFactsProjection())
    assert str(bad.event_id) in await _skipped(pg_pool, "projection:household_facts")
    kinds = await pg_pool.fetch("SELECT kind FROM household_facts WHERE household = $1", good_key)
    assert [r["kind"] for r in kinds] == ["income"]

    # ops list it: the CLI, the overview's API and page
    args = build_parser().parse_args(["projections", "failures", "--json"])
    assert await args.handler(settings, args) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])  # after the log lines
    assert str(bad.event_id) in {f["event_id"] for f in out["failures"]}
    assert out["total"] >= 1
    async with serve_app(settings, pg_pool, store, temporal_client) as base_url:
        ops = await mint(pg_pool, "ops")
        async with httpx.AsyncClient(base_url=base_url) as http:
            overview = (await http.get("/api/overview", headers=bearer(ops))).json()
            await http.post("/signin", data={"token": ops, "next": "/"})  # the page's cookie
            page = await http.get("/ops")
        supervisor = bearer(await mint(pg_pool, "supervisor", "yongding"))
        async with httpx.AsyncClient(base_url=base_url, headers=supervisor) as http:
            theirs = (await http.get("/api/overview")).json()
    assert overview["projection_failures"] >= 1
    recent = {f["event_id"]: f for f in overview["recent_projection_failures"]}
    assert recent[str(bad.event_id)]["subscription"] == "projection:household_facts"
    assert 'id="skipped"' in page.text and str(bad.event_id)[:8] in page.text
    assert theirs["recent_projection_failures"] == []  # a district's supervisor: the count only


async def test_a_district_past_an_index_row_is_stepped_over_by_cases_and_tasks(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    """Regression (poison input #6): a 10,000-character district stopped the ``cases`` and
    ``visit_tasks`` projections (``index row requires 10024 bytes``)."""
    cases = subscription_for(store, CasesProjection())
    tasks = subscription_for(store, VisitTasksProjection())
    await cases.catch_up()
    await tasks.catch_up()
    long, fine = f"case-long-{unique}", f"case-fine-{unique}"
    district = secrets.token_hex(5_000)  # 10,000 characters that do not compress
    opened = ev("CaseOpened", 0, case_id=long, district=district, trigger={"type": "x"})
    scheduled = ev(
        "VisitScheduled", 1, case_id=long, task_id=f"t-{long}", kind="visit", attempt=1,
        district=district, due_at=(T0 + timedelta(days=7)).isoformat(),
    )  # fmt: skip
    await store.append(store.stream_key(long), [opened, scheduled], NO_STREAM)
    behind = [
        ev("CaseOpened", 2, case_id=fine, district="cili", trigger={"type": "x"}),
        ev(
            "VisitScheduled", 3, case_id=fine, task_id=f"t-{fine}", kind="visit", attempt=1,
            district="cili", due_at=(T0 + timedelta(days=7)).isoformat(),
        ),
    ]  # fmt: skip
    await store.append(store.stream_key(fine), behind, NO_STREAM)

    await cases.catch_up()
    await tasks.catch_up()

    assert await pg_pool.fetchval("SELECT district FROM cases WHERE case_id = $1", fine) == "cili"
    assert await pg_pool.fetchval("SELECT count(*) FROM visit_tasks WHERE case_id = $1", fine) == 1
    assert str(opened.event_id) in await _skipped(pg_pool, "projection:cases")
    assert str(scheduled.event_id) in await _skipped(pg_pool, "projection:visit_tasks")

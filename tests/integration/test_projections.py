"""Projections and subscriptions: checkpoints, exactly-once effects, rebuild, wake-ups."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from outreach.infra.cli import build_parser
from outreach.infra.database import Conn
from outreach.infra.event_store import NO_STREAM, EventStore, NewEvent, RecordedEvent
from outreach.infra.personal_data import split_personal
from outreach.infra.projections import (
    PROJECTIONS,
    CasesProjection,
    HouseholdFactsProjection,
    rebuild,
    subscription_for,
)
from outreach.infra.settings import Settings
from outreach.infra.subscription import Subscription

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def ev(type_: str, at: int, **data: Any) -> NewEvent:
    return NewEvent(uuid.uuid4(), type_, data, T0 + timedelta(hours=at))


def fact_event(household_id: str, kind: str, amount: str, at: int) -> NewEvent:
    data = {
        "household": {"household_id": household_id, "district": "yongding", "urban": True},
        "person": {"id_number": "430802199001011234", "name": "李四"},
        "fact": {"kind": kind, "amount": amount, "period": "2026-02"},
    }
    stored = split_personal(data, ["person", "household.household_id"])
    return NewEvent(uuid.uuid4(), "facts.household.reported", stored, T0 + timedelta(hours=at))


async def snapshot(pool: asyncpg.Pool, table: str, key: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT * FROM {table} ORDER BY {key}")
    return [dict(r) for r in rows]


async def test_cases_and_facts_rebuild_equals_incremental_result(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    cases, facts = (
        subscription_for(store, CasesProjection()),
        subscription_for(store, HouseholdFactsProjection()),
    )
    await cases.catch_up()
    await facts.catch_up()

    a, b = store.stream_key(f"a-{unique}"), store.stream_key(f"b-{unique}")
    case_a, case_b = f"case-a-{unique}", f"case-b-{unique}"
    await store.append(
        a,
        [
            ev("CaseOpened", 0, case_id=case_a, district="cili", trigger={"type": "x"}),
            ev("ReminderSent", 1, case_id=case_a, channel="sms", attempt=1),
        ],
        NO_STREAM,
    )
    await store.append(b, [fact_event(f"b-{unique}", "income", "1200.50", 0)], NO_STREAM)
    await cases.catch_up()  # incremental: a step now, more later
    await facts.catch_up()
    await store.append(
        a,
        [
            ev("VisitScheduled", 2, case_id=case_a, task_id="t1", due_at="2026-03-05"),
            ev("VisitCompleted", 3, case_id=case_a, task_id="t1", found=True),
            ev("EligibilityAssessed", 4, case_id=case_a, eligible=True, programmes=["dibao"]),
            ev("PublicityStarted", 5, case_id=case_a, ends_at="2026-03-12"),
            ev("EnrollmentFinalized", 6, case_id=case_a, programmes=[{"programme": "dibao"}]),
            ev("CaseClosed", 7, case_id=case_a, outcome="enrolled", reason="enrolled in dibao"),
        ],
        2,
    )
    await store.append(
        b,
        [
            ev("CaseOpened", 1, case_id=case_b, district="sangzhi", trigger={"type": "y"}),
            ev("VisitScheduled", 2, case_id=case_b, task_id="t2", due_at="2026-03-05"),
            ev("VisitCompleted", 3, case_id=case_b, task_id="t2", found=False),
            fact_event(f"b-{unique}", "income", "900", 5),
            fact_event(f"b-{unique}", "income", "5000", 1),  # late delivery of an older fact
            fact_event(f"b-{unique}", "vehicle", "30000", 2),
        ],
        1,
    )
    await cases.catch_up()
    await facts.catch_up()

    row_a = await pg_pool.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_a)
    assert (row_a["status"], row_a["stage"], row_a["outcome"]) == ("closed", "closed", "enrolled")
    assert (row_a["household"], row_a["district"]) == (a, "cili")
    assert row_a["opened_at"] == T0 and row_a["closed_at"] == T0 + timedelta(hours=7)
    assert row_a["programmes"] == '[{"programme": "dibao"}]'
    row_b = await pg_pool.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_b)
    assert (row_b["status"], row_b["stage"], row_b["district"]) == ("open", "visit", "sangzhi")
    fact_rows = await pg_pool.fetch(
        "SELECT kind, amount::text, district FROM household_facts WHERE household = $1 "
        "ORDER BY kind",
        b,
    )
    assert [tuple(r) for r in fact_rows] == [
        ("income", "900", "yongding"),
        ("vehicle", "30000", "yongding"),
    ]
    facts_text = await pg_pool.fetchval("SELECT string_agg(fact::text, '') FROM household_facts")
    assert "李四" not in facts_text

    incremental = (
        await snapshot(pg_pool, "cases", "case_id"),
        await snapshot(pg_pool, "household_facts", "household, kind"),
    )
    assert await rebuild(store, CasesProjection()) >= 10
    assert await rebuild(store, HouseholdFactsProjection()) >= 4
    rebuilt = (
        await snapshot(pg_pool, "cases", "case_id"),
        await snapshot(pg_pool, "household_facts", "household, kind"),
    )
    assert rebuilt == incremental
    assert await cases.position() >= (await store.read_stream(b))[-1].position


async def test_rebuild_command(
    settings: Settings, store: EventStore, pg_pool: asyncpg.Pool
) -> None:
    before = await snapshot(pg_pool, "cases", "case_id")
    args = build_parser().parse_args(["projections", "rebuild", "cases"])
    assert await args.handler(settings, args) == 0
    assert await snapshot(pg_pool, "cases", "case_id") == before
    bad = build_parser().parse_args(["projections", "rebuild", "nope"])
    assert await bad.handler(settings, bad) == 2
    assert {p.name for p in PROJECTIONS} == {
        "cases",
        "household_facts",
        "visit_tasks",
        "enrolments",
    }
    # The case projections rebuild through the same command (twice: same rows).
    tasks = build_parser().parse_args(["projections", "rebuild", "visit_tasks"])
    assert await tasks.handler(settings, tasks) == 0
    tasks_once = await snapshot(pg_pool, "visit_tasks", "task_id")
    assert await tasks.handler(settings, tasks) == 0
    assert await snapshot(pg_pool, "visit_tasks", "task_id") == tasks_once


class Recorder:
    """A handler writing what it sees into a table, in the step's transaction."""

    def __init__(self, table: str, fail_once: bool = False) -> None:
        self.table = table
        self.fail_once = fail_once

    async def __call__(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        await conn.executemany(
            f"INSERT INTO {self.table} (event_id) VALUES ($1)", [(e.event_id,) for e in events]
        )
        if self.fail_once:
            self.fail_once = False
            raise RuntimeError("handler crashed after writing")


async def test_subscription_resumes_from_its_checkpoint_with_exactly_once_effects(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    table = f"seen_{unique}"
    await pg_pool.execute(f"CREATE TABLE {table} (event_id uuid PRIMARY KEY)")
    stream = store.stream_key(f"sub-{unique}")
    first = await store.append(stream, [ev("Noted", i) for i in range(5)], NO_STREAM)
    name = f"test:{unique}"
    # Start just before this test's events (a new subscription starts at position 0).
    async with pg_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO checkpoints (name, position) VALUES ($1, $2)",
            name,
            first.positions[0] - 1,
        )
    types = frozenset({"Noted"})
    crashing = Subscription(store, name, Recorder(table, fail_once=True), types=types)
    with pytest.raises(RuntimeError):
        await crashing.step()
    assert await pg_pool.fetchval(f"SELECT count(*) FROM {table}") == 0  # rolled back together
    assert await crashing.position() == first.positions[0] - 1

    assert await Subscription(store, name, Recorder(table), types=types).catch_up() == 5
    await store.append(stream, [ev("Noted", 9), ev("Other", 9)], 5)
    # A new instance (a restarted process) carries on after the checkpoint: no repeats.
    restarted = Subscription(store, name, Recorder(table), types=types)
    assert await restarted.catch_up() == 1
    assert await pg_pool.fetchval(f"SELECT count(*) FROM {table}") == 6
    assert await restarted.position() == (await store.read_stream(stream))[-1].position


async def test_subscription_wakes_on_notify_long_before_its_poll_interval(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    stream = store.stream_key(f"wake-{unique}")
    name = f"wake:{unique}"
    got: asyncio.Queue[RecordedEvent] = asyncio.Queue()

    async def handler(conn: Conn, events: Sequence[RecordedEvent]) -> None:
        for e in events:
            if e.stream == stream:
                got.put_nowait(e)

    sub = Subscription(store, name, handler, poll_interval=60)
    await sub.catch_up()  # from 0 to now, so the run loop is idle when we append
    stop = asyncio.Event()
    running = asyncio.create_task(sub.run(stop))
    try:
        await asyncio.sleep(0.5)  # idle in its 60 s wait
        for i in range(3):
            started = time.monotonic()
            appended = await store.append(stream, [ev("Noted", i)], i)
            received = await asyncio.wait_for(got.get(), 5)
            assert received.position == appended.position
            assert time.monotonic() - started < 5
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)


async def test_a_typed_page_steps_over_other_types_without_sending_them(
    store: EventStore, unique: str
) -> None:
    stream = store.stream_key(f"typed-{unique}")
    wanted, other = f"Wanted{unique}", f"Other{unique}"
    personal = {"personal": {"name": "王五"}}
    appended = await store.append(
        stream,
        [
            NewEvent(uuid.uuid4(), wanted, {"n": 1, **personal}, T0),
            NewEvent(uuid.uuid4(), other, {"n": 2, **personal}, T0),
            NewEvent(uuid.uuid4(), wanted, {"n": 3}, T0),
            NewEvent(uuid.uuid4(), other, {"n": 4}, T0),
        ],
        NO_STREAM,
    )
    after = appended.positions[0] - 1
    everything = await store.read_page(after, 4)
    page = await store.read_page(after, 4, types={wanted})
    assert [e.data.get("n") for e in everything.events if e.stream == stream] == [1, 2, 3, 4]
    # Same rows read (the page ends where the untyped one does), only the wanted ones sent.
    assert page.count == everything.count == 4
    assert page.end == everything.end == appended.positions[-1]
    assert [(e.position, e.data) for e in page.events] == [
        (e.position, e.data) for e in everything.events if e.type == wanted
    ]
    assert page.events[0].personal == {"name": "王五"}  # decrypted like any read
    none = await store.read_page(after, 4, types={f"Nothing{unique}"})
    assert none.events == [] and none.count == 4 and none.end == appended.positions[-1]
    assert everything.count == len(everything.events) and everything.end == appended.positions[-1]


async def test_a_subscription_moves_its_checkpoint_past_events_it_does_not_handle(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    table = f"typed_{unique}"
    await pg_pool.execute(f"CREATE TABLE {table} (event_id uuid PRIMARY KEY)")
    stream = store.stream_key(f"typed-sub-{unique}")
    noted = f"Noted{unique}"
    first = await store.append(
        stream, [ev(noted, 0), ev("Other", 1), ev(noted, 2), ev("Other", 3)], NO_STREAM
    )
    name = f"typed:{unique}"
    async with pg_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO checkpoints (name, position) VALUES ($1, $2)",
            name,
            first.positions[0] - 1,
        )
    sub = Subscription(store, name, Recorder(table), types=frozenset({noted}), batch_size=3)
    step = await sub.step()
    assert (step.read, step.handled, step.full) == (3, 2, True)
    assert step.position == first.positions[2]
    assert await sub.catch_up() == 0
    assert await sub.position() >= first.positions[-1]  # past the last, unhandled, event
    seen = {r["event_id"] for r in await pg_pool.fetch(f"SELECT event_id FROM {table}")}
    assert seen == {e.event_id for e in await store.read_stream(stream) if e.type == noted}


async def test_household_facts_page_at_once_equals_one_event_at_a_time(
    pg_pool: asyncpg.Pool, unique: str
) -> None:
    """``apply_batch`` (one upsert per page) ends where applying each event in turn does,
    whatever the order: older facts, equal times (position decides), personal detail merged,
    shredded personal parts, events without a kind."""
    projection = HouseholdFactsProjection()
    households = [f"hf-{unique}-{i}" for i in range(3)]
    events: list[RecordedEvent] = []
    position = 10**12
    for n in range(40):
        household = households[n % 3]
        kind = ("income", "vehicle", "benefit")[n % 4 % 3]
        fact: dict[str, Any] = {"kind": kind, "amount": str(100 + n), "count": n % 3}
        detail = ("dibao", {"programme": "Tekun "}, "unknown")[n % 3]
        if kind == "vehicle":
            detail = {"plate": f"湘G{n}"}
        personal: dict[str, Any] = {"fact": {"detail": detail}}
        if n % 7 == 0:
            personal = {"shredded": True}
        if n % 11 == 0:
            fact = {"amount": "1"}  # no kind: ignored
        position += 1 + n % 5
        events.append(
            RecordedEvent(
                position=position,
                event_id=uuid.uuid4(),
                stream=household,
                version=n,
                type="facts.household.reported",
                schema_version=1,
                data={"household": {"district": "cili"}, "fact": fact, "personal": personal},
                metadata={},
                # out of order on purpose, with ties
                occurred_at=T0 + timedelta(hours=(n * 7) % 5),
                recorded_at=T0,
            )
        )

    async def rows(apply: Any) -> list[dict[str, Any]]:
        async with pg_pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                await apply(conn)
                found = await conn.fetch(
                    "SELECT * FROM household_facts WHERE household = ANY($1) "
                    "ORDER BY household, kind",
                    households,
                )
                return [dict(r) for r in found]
            finally:
                await tx.rollback()

    async def one_by_one(conn: Conn) -> None:
        for event in events:
            await projection.apply(conn, event)

    async def in_pages(conn: Conn) -> None:
        for start in range(0, len(events), 16):
            await projection.apply_batch(conn, events[start : start + 16])

    async def all_at_once(conn: Conn) -> None:
        await projection.apply_batch(conn, events)

    expected = await rows(one_by_one)
    assert len(expected) == 9
    assert any(r["detail"] is not None for r in expected)
    # of the personal detail only a benefit's programme is kept
    assert all(
        json.loads(r["detail"]) in ({"programme": "dibao"}, {"programme": "tekun"})
        for r in expected
        if r["detail"] is not None
    )
    assert all(r["kind"] == "benefit" for r in expected if r["detail"] is not None)
    assert "湘G" not in repr(expected) and "unknown" not in repr(expected)
    assert await rows(in_pages) == expected
    assert await rows(all_at_once) == expected

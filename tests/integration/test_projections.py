"""Projections and subscriptions: checkpoints, exactly-once effects, rebuild, wake-ups."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from outreach.cli.main import build_parser
from outreach.infra.settings import Settings
from outreach.projections import (
    PROJECTIONS,
    CasesProjection,
    HouseholdFactsProjection,
    rebuild,
    subscription_for,
)
from outreach.store.database import Conn
from outreach.store.event_store import (
    NO_STREAM,
    AppendResult,
    EventStore,
    NewEvent,
    RecordedEvent,
)
from outreach.store.personal_data import SHREDDED, split_personal
from outreach.store.subscription import Subscription

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


async def _stream_to_follow(
    store: EventStore, pg_pool: asyncpg.Pool, tag: str, events: list[NewEvent]
) -> tuple[str, str, AppendResult, str]:
    """A table for a ``Recorder``, ``events`` appended to a new stream, and a checkpoint just
    before them (a new subscription would start at position 0): (table, stream, the append,
    checkpoint name)."""
    table, name = f"t_{tag}", f"follow:{tag}"
    await pg_pool.execute(f"CREATE TABLE {table} (event_id uuid PRIMARY KEY)")
    stream = store.stream_key(f"follow-{tag}")
    first = await store.append(stream, events, NO_STREAM)
    await pg_pool.execute(
        "INSERT INTO checkpoints (name, position) VALUES ($1, $2)", name, first.positions[0] - 1
    )
    return table, stream, first, name


async def test_subscription_resumes_from_its_checkpoint_with_exactly_once_effects(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    events = [ev("Noted", i) for i in range(5)]
    table, stream, first, name = await _stream_to_follow(store, pg_pool, f"seen{unique}", events)
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
    noted = f"Noted{unique}"
    events = [ev(noted, 0), ev("Other", 1), ev(noted, 2), ev("Other", 3)]
    table, stream, first, name = await _stream_to_follow(store, pg_pool, f"typed{unique}", events)
    sub = Subscription(store, name, Recorder(table), types=frozenset({noted}), batch_size=3)
    step = await sub.step()
    assert (step.read, step.handled, step.full) == (3, 2, True)
    assert step.position == first.positions[2]
    assert await sub.catch_up() == 0
    assert await sub.position() >= first.positions[-1]  # past the last, unhandled, event
    seen = {r["event_id"] for r in await pg_pool.fetch(f"SELECT event_id FROM {table}")}
    assert seen == {e.event_id for e in await store.read_stream(stream) if e.type == noted}


async def facts_rows(
    pool: asyncpg.Pool, households: Sequence[str], apply: Callable[[Conn], Awaitable[None]]
) -> list[dict[str, Any]]:
    """The ``household_facts`` rows of ``households`` after ``apply`` in a transaction that is
    then rolled back."""
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await apply(conn)
            found = await conn.fetch(
                "SELECT * FROM household_facts WHERE household = ANY($1) ORDER BY household, kind",
                list(households),
            )
            return [dict(r) for r in found]
        finally:
            await tx.rollback()


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

    async def rows(apply: Callable[[Conn], Awaitable[None]]) -> list[dict[str, Any]]:
        return await facts_rows(pg_pool, households, apply)

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


async def test_a_sealed_page_decrypts_only_what_is_opened(store: EventStore, unique: str) -> None:
    stream = store.stream_key(f"sealed-{unique}")
    wanted = f"Sealed{unique}"
    appended = await store.append(
        stream,
        [
            NewEvent(uuid.uuid4(), wanted, {"n": 1, "personal": {"name": "王五"}}, T0),
            NewEvent(uuid.uuid4(), wanted, {"n": 2}, T0),
        ],
        NO_STREAM,
    )
    after = appended.positions[0] - 1
    opened = await store.read_page(after, 2, types={wanted})
    sealed = await store.read_page(after, 2, types={wanted}, decrypt=False)
    first, second = sealed.events
    assert first.data == {"n": 1} and first.sealed is not None  # personal kept out of data
    assert first.personal == {"name": "王五"} and not first.shredded  # opened on demand
    assert [e.decrypted() for e in sealed.events] == opened.events
    assert second.sealed is None and second.decrypted() is second
    assert (sealed.count, sealed.end, sealed.held_back) == (2, opened.end, opened.held_back)

    assert await store.shred(stream)
    (shredded, _) = (await store.read_page(after, 2, types={wanted}, decrypt=False)).events
    assert shredded.shredded and shredded.personal is None
    assert shredded.decrypted().data == {"n": 1, "personal": dict(SHREDDED)}


async def test_household_facts_decrypts_only_the_benefit_facts_it_keeps(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read as the projection reads them (sealed), a household's facts give the same rows as
    fully decrypted events, while only benefit facts (the newest of the page per household)
    are decrypted, a shredded household's included (its programme is then unknown)."""
    paths = ["person", "household.household_id", "fact.detail"]

    def fact(household: str, at: int, **fact: Any) -> NewEvent:
        data = {
            "household": {"household_id": household, "district": "cili"},
            "person": {"name": "李四"},
            "fact": fact,
        }
        return NewEvent(uuid.uuid4(), "facts.household.reported", split_personal(data, paths), T0)

    kept, shredded = store.stream_key(f"kept-{unique}"), store.stream_key(f"shred-{unique}")
    first = await store.append(
        kept,
        [
            fact("kept", 0, kind="income", amount="1E+3", detail="工资 单位 secret"),
            fact("kept", 1, kind="vehicle", amount=12.5, count=2, detail="湘G·A1234"),
            fact("kept", 2, kind="pension", amount="NaN"),
            fact("kept", 3, kind="benefit", amount=300, detail=" Dibao"),
        ],
        NO_STREAM,
    )
    await store.append(shredded, [fact("shred", 0, kind="benefit", detail="tekun")], NO_STREAM)
    assert await store.shred(shredded)
    page = await store.read_page(
        first.positions[0] - 1, 100, types=HouseholdFactsProjection.handles, decrypt=False
    )
    events = [e for e in page.events if e.stream in (kept, shredded)]
    assert len(events) == 5 and all(e.sealed is not None for e in events)

    opened: list[uuid.UUID] = []
    decrypt = store.keys.decrypt

    def counting(stream: str, event_id: uuid.UUID, *args: Any) -> dict[str, Any]:
        opened.append(event_id)
        return decrypt(stream, event_id, *args)

    monkeypatch.setattr(store.keys, "decrypt", counting)

    async def rows(applied: Sequence[RecordedEvent]) -> list[dict[str, Any]]:
        async def apply(conn: Conn) -> None:
            await HouseholdFactsProjection().apply_batch(conn, applied)

        return await facts_rows(pg_pool, [kept, shredded], apply)

    from_sealed = await rows(events)
    # the benefit facts, a shredded one included; never the income or vehicle detail
    assert sorted(opened) == sorted([events[3].event_id, events[4].event_id])
    opened.clear()
    # (as text: NaN is not equal to itself)
    assert repr(from_sealed) == repr(await rows([e.decrypted() for e in events]))
    by_kind = {(r["household"], r["kind"]): r for r in from_sealed}
    assert json.loads(by_kind[kept, "benefit"]["detail"]) == {"programme": "dibao"}
    assert by_kind[shredded, "benefit"]["detail"] is None  # shredded: no programme to keep
    assert all(r["detail"] is None for k, r in by_kind.items() if k[1] != "benefit")
    assert "secret" not in repr(from_sealed) and "湘G" not in repr(from_sealed)
    assert [str(by_kind[kept, k]["amount"]) for k in ("income", "vehicle", "pension")] == [
        "1000",
        "12.5",
        "NaN",
    ]
    assert by_kind[kept, "vehicle"]["count"] == 2 and by_kind[kept, "income"]["district"] == "cili"


async def test_household_facts_in_the_database_equals_the_python_path(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    """``apply_span`` (set-based) plus ``apply_batch`` of what it leaves ends where
    ``apply_batch`` of every event does: out of order and tied times, and facts of every shape,
    plain ones (done in SQL) and ones left to Python (benefit, no clear kind, odd amounts,
    counts, periods, districts); only the plain ones are done in SQL."""
    paths = ["person", "household.household_id", "fact.detail"]
    households = [store.stream_key(f"span-{unique}-{i}") for i in range(3)]
    odd: list[dict[str, Any]] = [
        {"kind": "income", "amount": "1E+3"},
        {"kind": "income", "amount": "NaN"},
        {"kind": "vehicle", "amount": 12.5},
        {"kind": "vehicle", "count": "3"},
        {"kind": "pension", "period": 202602},
        {"kind": "benefit", "detail": " Dibao"},
        {"amount": "5"},  # no kind: ignored
    ]
    first: AppendResult | None = None
    last: AppendResult | None = None
    plain = 0
    for n in range(60):
        fact: dict[str, Any] = {
            "kind": ("income", "vehicle", "pension", "real_estate")[n % 4],
            "amount": f"{1000 + n}.{n % 10}0",
            "count": n % 3,
            "period": "2026-02",
            "detail": f"湘G{n}",
            "extra": {"n": n},
        }
        district: Any = "cili"
        if n % 5 == 0:
            fact = dict(odd[n // 5 % len(odd)])
        elif n % 13 == 0:
            district = 7
        else:
            plain += 1
        data = {
            "household": {"household_id": f"h{n % 3}", "district": district},
            "person": {"name": "李四"},
            "fact": fact,
        }
        event = NewEvent(
            uuid.uuid4(),
            "facts.household.reported",
            split_personal(data, paths),
            T0 + timedelta(hours=(n * 7) % 5),  # out of order, with ties
        )
        last = await store.append(households[n % 3], [event], None)
        first = first or last
    assert first is not None and last is not None
    after, upto = first.position - 1, last.position
    projection = HouseholdFactsProjection()

    async def rows(apply: Callable[[Conn], Awaitable[None]]) -> list[dict[str, Any]]:
        # the fact column keeps numbers as stored in SQL (12.50, not 12.5): compare values
        found = await facts_rows(pg_pool, households, apply)
        return [{**r, "fact": json.loads(r["fact"])} for r in found]

    left: list[int] = []

    async def in_python(conn: Conn) -> None:
        page = await store.read_page(
            after, 1000, types=projection.handles, decrypt=False, conn=conn
        )
        await projection.apply_batch(conn, [e for e in page.events if e.stream in households])

    async def in_database(conn: Conn) -> None:
        left.extend(await projection.apply_span(conn, after, upto))
        events = await store.read_positions(left, decrypt=False, conn=conn)
        await projection.apply_batch(conn, [e for e in events if e.stream in households])

    expected = await rows(in_python)
    kinds = {"income", "vehicle", "pension", "real_estate", "benefit"}
    assert len(expected) > 12 and {r["kind"] for r in expected} == kinds
    assert [r["detail"] is not None for r in expected].count(True) == 1  # the benefit
    assert await rows(in_database) == expected
    assert len(left) == 60 - plain  # the plain facts were done in SQL, the rest in Python


async def test_a_subscription_that_is_behind_reads_larger_pages(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    noted = f"Grow{unique}"
    events = [ev(noted, i) for i in range(9)]
    table, _, first, name = await _stream_to_follow(store, pg_pool, f"grow{unique}", events)
    sub = Subscription(
        store, name, Recorder(table), types=frozenset({noted}), batch_size=2, max_batch_size=8
    )
    steps = [await sub.step() for _ in range(3)]
    # doubled after each full page; the third stops at the end of what there is
    assert [(s.read, s.full) for s in steps] == [(2, True), (4, True), (3, False)]
    assert await pg_pool.fetchval(f"SELECT count(*) FROM {table}") == 9
    assert steps[-1].position == first.positions[-1]


async def test_a_page_stops_before_an_open_transaction_and_says_so(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    early, late = store.stream_key(f"early-{unique}"), store.stream_key(f"late-{unique}")
    wanted = f"Held{unique}"
    after = int(await pg_pool.fetchval("SELECT coalesce(max(position), 0) FROM events"))
    async with pg_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            held = await store.append(early, [ev(wanted, 0)], NO_STREAM, conn=conn)
            done = await store.append(late, [ev(wanted, 1)], NO_STREAM)  # commits first
            page = await store.read_page(after, 10, types={wanted})
            # the committed event comes after the open transaction's: not yet
            assert page.events == [] and page.held_back and page.end is None
        finally:
            await tx.commit()
    page = await store.read_page(after, 10, types={wanted})
    assert [e.position for e in page.events] == [held.position, done.position]
    assert not page.held_back and page.end == done.position


async def test_a_running_subscription_retries_a_failed_step_exactly_once(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    """The run loop steps on its listening connection; a failed step is rolled back, that
    connection goes back to the pool, and the retry on a fresh one applies the page once."""
    noted = f"Retry{unique}"
    events = [ev(noted, i) for i in range(3)]
    table, _, first, name = await _stream_to_follow(store, pg_pool, f"retry{unique}", events)
    recorder = Recorder(table, fail_once=True)
    sub = Subscription(store, name, recorder, types=frozenset({noted}), poll_interval=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(sub.run(stop))
    try:
        for _ in range(300):  # the retry comes after a second's back-off
            if await sub.position() >= first.positions[-1]:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    assert not recorder.fail_once  # it did fail once
    assert await pg_pool.fetchval(f"SELECT count(*) FROM {table}") == 3
    assert await sub.position() == first.positions[-1]

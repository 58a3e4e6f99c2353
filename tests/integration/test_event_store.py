"""The event store against real Postgres: concurrency, idempotency, ordering, crypto-shredding."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from outreach.infra.settings import Settings
from outreach.store.event_store import (
    ANY_VERSION,
    NO_STREAM,
    AppendNewResult,
    ConcurrencyConflict,
    DuplicateEventError,
    EventStore,
    NewEvent,
    RecordedEvent,
    StreamAppend,
)
from outreach.store.personal_data import SHREDDED, load_keyring

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def event(type_: str = "Noted", **data: object) -> NewEvent:
    return NewEvent(uuid.uuid4(), type_, dict(data), T0)


async def test_stale_expected_version_conflicts_and_writes_nothing(
    store: EventStore, unique: str
) -> None:
    stream = store.stream_key(f"hh-{unique}")
    first = await store.append(stream, [event(n=1), event(n=2)], NO_STREAM)
    assert first.version == 2 and not first.duplicate

    late = [event(n=3)]
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append(stream, late, 1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    with pytest.raises(ConcurrencyConflict):
        await store.append(stream, late, NO_STREAM)  # 0: the stream must be new
    assert [e.data["n"] for e in await store.read_stream(stream)] == [1, 2]

    assert (await store.append(stream, late, 2)).version == 3
    assert (await store.append(stream, [event(n=4)], ANY_VERSION)).version == 4


async def test_racing_writers_with_the_same_expected_version_one_wins(
    store: EventStore, unique: str
) -> None:
    stream = store.stream_key(f"hh-{unique}")
    await store.append(stream, [event()], NO_STREAM)
    results = await asyncio.gather(
        *(store.append(stream, [event(writer=i)], 1) for i in range(8)), return_exceptions=True
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1
    assert all(isinstance(r, ConcurrencyConflict) for r in results if r not in wins)
    assert await store.version(stream) == 2


async def test_reappending_stored_ids_is_a_no_op_reporting_the_stored_positions(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    stream = store.stream_key(f"hh-{unique}")
    batch = [event(n=1), event(n=2)]
    first = await store.append(stream, batch, NO_STREAM)
    await store.append(stream, [event(n=3)], 2)

    # A retry whose first attempt succeeded: same ids, now-stale expected version.
    again = await store.append(stream, batch, NO_STREAM)
    assert again.duplicate
    assert (again.positions, again.version) == (first.positions, first.version)
    count = await pg_pool.fetchval("SELECT count(*) FROM events WHERE stream = $1", stream)
    assert count == 3

    # Concurrent deliveries of the same event: stored once, every caller told where.
    single = event(n=4)
    results = await asyncio.gather(*(store.append(stream, [single], None) for _ in range(6)))
    assert len({r.positions for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1

    with pytest.raises(DuplicateEventError):
        await store.append(stream, [batch[0], event(n=5)], None)

    # Inside a caller's transaction too: a no-op that leaves the transaction usable.
    async with pg_pool.acquire() as conn, conn.transaction():
        inside = await store.append(stream, batch, ANY_VERSION, conn=conn)
        assert inside.duplicate and inside.positions == first.positions
        assert await conn.fetchval("SELECT count(*) FROM events WHERE stream = $1", stream) == 4


async def test_stored_event_keeps_every_column(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    stream = store.stream_key(f"hh-{unique}")
    occurred = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    new = NewEvent(
        uuid.uuid4(),
        "CaseOpened",
        {"case_id": f"case-{unique}", "amount": 12.5},
        occurred,
        schema_version=2,
        causation_id="agency-event-1",
        correlation_id=f"case-{unique}",
        source="/agency/disability",
    )
    result = await store.append(stream, [new], NO_STREAM)
    (read,) = await store.read_stream(stream)
    assert (read.event_id, read.stream, read.version, read.position) == (
        new.event_id,
        stream,
        1,
        result.position,
    )
    assert (read.type, read.schema_version, read.data) == ("CaseOpened", 2, dict(new.data))
    assert (read.causation_id, read.correlation_id, read.source) == (
        "agency-event-1",
        f"case-{unique}",
        "/agency/disability",
    )
    assert read.occurred_at == occurred
    assert abs(read.recorded_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert [e.event_id for e in await store.read_all(result.position - 1, 1)] == [new.event_id]
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await pg_pool.execute("UPDATE events SET type = 'x' WHERE event_id = $1", new.event_id)


async def test_follower_sees_every_event_once_in_order_under_concurrent_appends(
    settings: Settings, unique: str
) -> None:
    """16 writers (half holding their transaction open a while) and a follower reading along.

    Without the read horizon, a transaction holding a low position that commits late would be
    skipped by a follower that had already read past it.
    """
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=4, max_size=24)
    assert pool is not None
    store = EventStore(pool, load_keyring(settings))
    shared = [store.stream_key(f"{unique}-shared-{i}") for i in range(6)]
    appended: list[uuid.UUID] = []
    start = int(await pool.fetchval("SELECT coalesce(max(position), 0) FROM events"))
    writers_done = asyncio.Event()
    rng = random.Random(7)

    async def writer(index: int) -> None:
        own = [store.stream_key(f"{unique}-w{index}-{i}") for i in range(3)]
        for round_ in range(30):
            batch = [event(writer=index, round=round_, i=i) for i in range(rng.randint(1, 4))]
            if index % 4 == 3:  # set-based, two streams at once, one of them contended
                half = len(batch) // 2
                await store.append_many(
                    [
                        StreamAppend(rng.choice(shared), batch[half:]),
                        *([StreamAppend(rng.choice(own), batch[:half])] if half else []),
                    ]
                )
            elif index % 2:  # autocommit on contended streams: races retried by the store
                await store.append(rng.choice(shared), batch, ANY_VERSION)
            else:  # an explicit transaction that stays open a little after the insert
                async with pool.acquire() as conn, conn.transaction():
                    await store.append(rng.choice(own), batch, ANY_VERSION, conn=conn)
                    await asyncio.sleep(rng.random() * 0.01)
            appended.extend(e.event_id for e in batch)

    seen: list[RecordedEvent] = []

    async def follower() -> None:
        after = start
        while True:
            page = await store.read_all(after, 37)
            seen.extend(page)
            if page:
                after = page[-1].position
            elif writers_done.is_set() and len(seen) >= len(appended):
                return
            else:
                await asyncio.sleep(0.002)

    try:
        following = asyncio.create_task(follower())
        await asyncio.gather(*(writer(i) for i in range(16)))
        writers_done.set()
        await asyncio.wait_for(following, 30)
    finally:
        await store.close()
        await pool.close()

    positions = [e.position for e in seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert len(seen) == len(appended) and {e.event_id for e in seen} == set(appended)
    # per stream, versions come in order and without gaps
    by_stream: dict[str, list[int]] = {}
    for e in seen:
        by_stream.setdefault(e.stream, []).append(e.version)
    assert all(v == list(range(1, len(v) + 1)) for v in by_stream.values())


async def test_personal_fields_are_encrypted_and_crypto_shredded(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    secret = uuid.uuid4().hex
    household_id = f"HH-430802-{secret}"
    stream = store.stream_key(household_id)
    assert household_id not in stream and len(stream) == 64
    assert stream == store.stream_key(household_id)  # stable
    personal = {"household_id": household_id, "person": {"name": "王芳", "id_number": secret}}
    opened = NewEvent(
        uuid.uuid4(),
        "CaseOpened",
        {"case_id": f"case-{unique}", "district": "cili", "personal": personal},
        T0,
    )
    await store.append(stream, [opened, event("ReminderSent", channel="sms")], NO_STREAM)

    raw = await pg_pool.fetchval(
        "SELECT data::text FROM events WHERE event_id = $1", opened.event_id
    )
    assert secret not in raw and "王芳" not in raw and "cili" in raw
    (first, _) = await store.read_stream(stream)
    assert first.personal == personal and not first.shredded

    assert await store.shred(stream)
    first, second = await store.read_stream(stream)
    assert first.shredded and first.personal is None and first.data["personal"] == dict(SHREDDED)
    assert first.data["district"] == "cili" and first.data["case_id"] == f"case-{unique}"
    assert second.data == {"channel": "sms"}
    assert secret not in json.dumps([e.data for e in await store.read_all(first.position - 1)])

    # Later events of the household get a fresh key; the shredded ones stay unreadable.
    later = NewEvent(uuid.uuid4(), "TriggerJoined", {"personal": {"name": "王芳"}}, T0)
    await store.append(stream, [later], 2)
    events = await store.read_stream(stream)
    assert [e.shredded for e in events] == [True, False, False]
    assert events[2].personal == {"name": "王芳"}


async def test_a_key_deleted_by_another_process_is_not_used_for_new_events(
    settings: Settings, store: EventStore, unique: str
) -> None:
    stream = store.stream_key(f"hh-{unique}")
    await store.append(stream, [event(personal={"name": "a"})], NO_STREAM)  # caches the key
    other = EventStore(store.pool, load_keyring(settings))
    assert await other.shred(stream)
    await store.append(stream, [event(personal={"name": "b"})], 1)  # cached key is gone
    old, new = await store.read_stream(stream)
    assert old.shredded and new.personal == {"name": "b"}


async def test_append_many_writes_many_streams_in_one_statement_like_append_each(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    a, b, c = (store.stream_key(f"hh-{unique}-{x}") for x in "abc")
    await store.append(a, [event(n=0)], NO_STREAM)
    secret = uuid.uuid4().hex
    batch_a = [event(n=1), event(n=2, personal={"name": secret})]
    batch_b = [event(n=10, personal={"id_number": secret}), event(n=11), event(n=12)]
    results = await store.append_many(
        [StreamAppend(a, batch_a, 1), StreamAppend(b, batch_b, NO_STREAM)]
    )
    assert [(r.stream, r.version, r.duplicate) for r in results] == [(a, 3, False), (b, 3, False)]
    positions = [p for r in results for p in r.positions]
    assert positions == sorted(positions)  # append order
    assert [e.data["n"] for e in await store.read_stream(a)] == [0, 1, 2]
    read_b = await store.read_stream(b)
    assert [(e.version, e.data["n"]) for e in read_b] == [(1, 10), (2, 11), (3, 12)]
    assert read_b[0].personal == {"id_number": secret}
    raw = await pg_pool.fetch(
        "SELECT data::text FROM events WHERE stream = ANY($1::text[])", [a, b]
    )
    assert raw and all(secret not in r[0] for r in raw)

    # Idempotent per stream: a stored stream is reported, a new one is written.
    batch_c = [event(n=20)]
    again = await store.append_many(
        [StreamAppend(a, batch_a, 1), StreamAppend(c, batch_c, NO_STREAM)]
    )
    assert again[0].duplicate and again[0].positions == results[0].positions
    assert again[0].version == 3 and not again[1].duplicate and again[1].version == 1
    with pytest.raises(DuplicateEventError):  # some ids stored, some not: a caller bug
        await store.append_many([StreamAppend(b, [batch_b[0], event(n=13)])])

    # All or nothing: a conflict on one stream writes nothing anywhere.
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append_many([StreamAppend(c, [event(n=21)], 1), StreamAppend(b, [event()], 1)])
    assert (caught.value.stream, caught.value.expected, caught.value.actual) == (b, 1, 3)
    assert await store.version(c) == 1 and await store.version(b) == 3

    # Inside the caller's transaction: it joins it, and a rollback undoes it.
    async with pg_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.append_many([StreamAppend(c, [event(n=22)])], conn=conn)
        await tx.rollback()
    assert await store.version(c) == 1
    with pytest.raises(ValueError):
        await store.append_many([StreamAppend(c, [event()]), StreamAppend(c, [event()])])


async def test_append_many_re_encrypts_when_a_key_was_deleted_meanwhile(
    settings: Settings, store: EventStore, unique: str
) -> None:
    stream = store.stream_key(f"hh-{unique}")
    await store.append_many([StreamAppend(stream, [event(personal={"name": "a"})])])
    other = EventStore(store.pool, load_keyring(settings))
    assert await other.shred(stream)
    await store.append_many([StreamAppend(stream, [event(personal={"name": "b"})], 1)])
    old, new = await store.read_stream(stream)
    assert old.shredded and new.personal == {"name": "b"}


async def _append_new(store: EventStore, *chunks: list[StreamAppend]) -> AppendNewResult:
    async with store.pool.acquire() as conn, conn.transaction():
        return await store.append_new(chunks, conn=conn)


async def test_append_new_appends_each_event_once_and_skips_the_stored_ones(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    a, b = (store.stream_key(f"hh-{unique}-{x}") for x in "ab")
    await store.append(a, [event(n=0)], NO_STREAM)
    secret = uuid.uuid4().hex
    first = [event(n=1, personal={"name": secret}), event(n=2)]
    # one stream in two chunks (versions continue across them), another in the second
    result = await _append_new(
        store,
        [StreamAppend(a, first[:1])],
        [StreamAppend(a, first[1:]), StreamAppend(b, [event(n=10)])],
    )
    assert (result.appended, result.stored_already) == (3, frozenset())
    read_a = await store.read_stream(a)
    assert [(e.version, e.data["n"]) for e in read_a] == [(1, 0), (2, 1), (3, 2)]
    assert read_a[1].personal == {"name": secret}
    positions = [e.position for e in read_a]
    assert positions == sorted(positions)
    raw = await pg_pool.fetch("SELECT data::text FROM events WHERE stream = $1", a)
    assert all(secret not in r[0] for r in raw)

    # Idempotent per event: a batch read again with a new event of the same household writes
    # only the new one (append_many would call that mix a caller bug), with no gap in versions.
    again = await _append_new(store, [StreamAppend(a, [first[1], event(n=3)])])
    assert again.appended == 1 and again.stored_already == {first[1].event_id}
    assert [e.data["n"] for e in await store.read_stream(a)] == [0, 1, 2, 3]
    assert await store.version(a) == 4

    # All stored: nothing written, every id reported.
    same = await _append_new(store, [StreamAppend(a, first)])
    assert same.appended == 0 and same.stored_already == {e.event_id for e in first}

    # It joins the caller's transaction: a rollback undoes it.
    async with pg_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.append_new([[StreamAppend(b, [event(n=11)])]], conn=conn)
        await tx.rollback()
        with pytest.raises(ValueError):  # and it needs one
            await store.append_new([[StreamAppend(b, [event(n=12)])]], conn=conn)
    assert await store.version(b) == 1
    with pytest.raises(ValueError):  # any version only
        await _append_new(store, [StreamAppend(b, [event()], 1)])


async def test_append_new_re_encrypts_a_chunk_whose_key_was_deleted_meanwhile(
    settings: Settings, store: EventStore, unique: str
) -> None:
    stream = store.stream_key(f"hh-{unique}")
    await _append_new(store, [StreamAppend(stream, [event(personal={"name": "a"})])])
    other = EventStore(store.pool, load_keyring(settings))
    assert await other.shred(stream)  # the first store still has the key cached
    result = await _append_new(
        store,
        [StreamAppend(stream, [event(n=1)])],
        [StreamAppend(stream, [event(n=2, personal={"name": "b"})])],
    )
    assert result.appended == 2
    old, plain, new = await store.read_stream(stream)
    assert old.shredded and plain.data["n"] == 1 and new.personal == {"name": "b"}


async def test_append_new_loses_a_race_by_aborting_the_callers_transaction(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    """Two transactions appending the same event: the second waits for the first, then fails
    whole (the caller retries it), rather than skipping an event it could not see."""
    stream = store.stream_key(f"hh-{unique}")
    shared = event(n=1)
    async with pg_pool.acquire() as first, pg_pool.acquire() as second:
        tx1, tx2 = first.transaction(), second.transaction()
        await tx1.start()
        await tx2.start()
        await store.append_new([[StreamAppend(stream, [shared])]], conn=first)
        racing = asyncio.create_task(
            store.append_new([[StreamAppend(stream, [shared, event(n=2)])]], conn=second)
        )
        await asyncio.sleep(0.2)
        assert not racing.done()  # blocked on the first one's row
        await tx1.commit()
        with pytest.raises((DuplicateEventError, ConcurrencyConflict)):
            await racing
        await tx2.rollback()
    retried = await _append_new(store, [StreamAppend(stream, [shared, event(n=2)])])
    assert retried.appended == 1 and retried.stored_already == {shared.event_id}
    assert [e.data["n"] for e in await store.read_stream(stream)] == [1, 2]


async def test_append_in_an_older_transaction_never_goes_behind_a_newer_head(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    """A transaction that got its id before a later one appended must not append after it.

    Otherwise the older transaction's (higher) version would get a lower global position, and
    followers would read the stream out of order.
    """
    stream = store.stream_key(f"hh-{unique}")
    await store.append(stream, [event(n=1)], NO_STREAM)
    async with pg_pool.acquire() as older:
        async with older.transaction():
            # Any write gives the transaction its id now, before the other append.
            await older.execute(
                "INSERT INTO checkpoints (name) VALUES ($1)", f"test-order-{unique}"
            )
            newer = await store.append(stream, [event(n=2)], ANY_VERSION)  # commits first
            with pytest.raises(ConcurrencyConflict):
                await store.append(stream, [event(n=3)], ANY_VERSION, conn=older)
    recorded = await store.read_stream(stream)
    assert [e.data["n"] for e in recorded] == [1, 2]
    assert recorded[-1].position == newer.positions[-1]
    # Retried in a new transaction, it lands after the newer head.
    retried = await store.append(stream, [event(n=3)], ANY_VERSION)
    assert retried.positions[0] > newer.positions[-1] and retried.version == 3


async def test_plain_json_events_are_stored_exactly_like_the_others(
    store: EventStore, pg_pool: asyncpg.Pool, unique: str
) -> None:
    """``NewEvent.plain_json`` only picks the faster encoder: same columns, same data."""
    data = {
        "text": '官黎坪 \u2028 "quoted" \\ back',
        "n": 12,
        "x": 1.5,
        "big": 10**20,
        "flag": True,
        "none": None,
        "list": [1, "two", {"three": [3.0]}],
        "personal": {"name": "张三", "address": {"road": "解放路18号"}},
    }
    meta = {"cloudevent_id": "e-1", "extensions": {"traceparent": "00-ab"}}
    rows = []
    for plain in (False, True):
        stream = store.stream_key(f"plain-{plain}-{unique}")
        new = NewEvent(
            uuid.uuid4(), "Noted", data, T0, extra_metadata=meta, source="/s", plain_json=plain
        )
        await store.append(stream, [new], NO_STREAM)
        (read,) = await store.read_stream(stream)
        stored = await pg_pool.fetchrow(
            "SELECT data - 'personal' AS data, metadata FROM events WHERE event_id = $1",
            new.event_id,
        )
        assert stored is not None
        rows.append((read.data, read.metadata, stored["data"], stored["metadata"]))
    assert rows[0] == rows[1]
    assert rows[1][0] == data

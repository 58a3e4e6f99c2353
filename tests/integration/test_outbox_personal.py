"""Outbox rows keep no household id in clear: it is sealed with the household's data key, the
relay opens it for the contract's message, and shredding the household leaves nothing to read."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from outreach.events.outbound import CaseClosed, Outcome, outbound_envelope
from outreach.infra.settings import Settings
from outreach.store.event_store import EventStore
from tests.relay_support import (
    T0,
    consume,
    create_topic,
    new_relay,
    record_messages,
    unsent,
    wait_until,
)
from tests.support import shred

MIGRATION = Path(__file__).parents[2] / "outreach/store/migrations/0301_outbox_sealed.sql"


async def raw_rows(pool: asyncpg.Pool, topic: str) -> list[str]:
    """Each of the topic's outbox rows as one text, every column included."""
    rows = await pool.fetch("SELECT o::text FROM outbox o WHERE topic = $1", topic)
    return [r[0] for r in rows]


async def relay_all(settings: Settings, pool: asyncpg.Pool, topic: str) -> None:
    """Run a relay until nothing of ``topic`` is left unsent."""
    stop = asyncio.Event()
    running = asyncio.create_task(new_relay(settings, pool).run(stop))
    try:
        await wait_until(lambda: _all_sent(pool, topic))
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def _all_sent(pool: asyncpg.Pool, topic: str) -> bool:
    return await unsent(pool, topic) == 0


def closed_envelope(unique: str, i: int, household_id: str, event_id: str) -> dict[str, Any]:
    """The contract's message ``record_messages`` recorded as its ``i``-th."""
    return outbound_envelope(
        CaseClosed(
            case_id=f"case-{unique}-{i}",
            household_id=household_id,
            outcome=Outcome.NOT_ELIGIBLE,
            reason=f"message {i}",
        ),
        event_id=event_id,
        time=T0,
    )


def published(messages: list[dict[str, Any]], message_id: str) -> dict[str, Any]:
    """The message with that id as a consumer reads it (the test's extra members dropped)."""
    found = next(m for m in messages if m["id"] == message_id)
    return {k: v for k, v in found.items() if k not in ("_headers", "_key")}


async def test_outbox_rows_hold_no_household_id_and_nothing_readable_after_shredding(
    settings: Settings,
    store: EventStore,
    pg_pool: asyncpg.Pool,
    unique: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression (poison input #11): the outbox held household ids in clear, for 7 days after
    sending and after ``outreach households shred``. Now no row shows the id, the relay still
    publishes the contract's message with it, and a shredded household's row opens to nothing:
    its unsent message goes out without the household id (nothing else changes)."""
    topic = f"outreach.test.{unique}"
    await create_topic(settings, topic)
    ids = await record_messages(store, topic, unique, 3)  # households relay-<unique>-0, -1, -2
    households = [f"relay-{unique}-{h}" for h in range(3)]

    rows = await raw_rows(pg_pool, topic)
    assert len(rows) == 3
    for row in rows:
        assert f"relay-{unique}" not in row, row

    assert await shred(settings, capsys, households[0], "--yes") == 0
    shredded = store.stream_key(households[0])
    for row in await raw_rows(pg_pool, topic):
        assert f"relay-{unique}" not in row, row
    # What the row sealed the id with is gone: nothing in it decrypts any more.
    kid = await pg_pool.fetchval(
        "SELECT payload->'data'->'personal'->>'kid' FROM outbox WHERE topic = $1 AND stream = $2",
        topic,
        shredded,
    )
    assert kid is not None
    assert not await pg_pool.fetchval(
        "SELECT count(*) FROM household_keys WHERE stream = $1 OR key_id::text = $2",
        shredded,
        kid,
    )

    await relay_all(settings, pg_pool, topic)
    messages = await consume(settings, topic, set(ids))
    for h in (1, 2):  # exactly the contract's message, household id included
        assert published(messages, ids[h]) == closed_envelope(unique, h, households[h], ids[h])
    expected = closed_envelope(unique, 0, households[0], ids[0])
    del expected["data"]["household_id"]
    assert published(messages, ids[0]) == expected

    # Sent rows are kept a week: still without any household id.
    rows = await raw_rows(pg_pool, topic)
    assert len(rows) == 3
    for row in rows:
        assert f"relay-{unique}" not in row, row


async def test_rows_written_in_clear_before_sealing_are_relayed_then_cleared(
    settings: Settings,
    store: EventStore,
    pg_pool: asyncpg.Pool,
    unique: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression (poison input #11): rows an older version wrote in clear are still published
    as they are, keep no household id once sent, lose it at once when the household is shredded,
    and migration 0301 clears the ones sent already."""
    topic = f"outreach.test.{unique}"
    await create_topic(settings, topic)
    households = [f"legacy-{unique}-{h}" for h in range(3)]
    ids = [str(uuid.uuid4()) for _ in households]
    envelopes = [closed_envelope(unique, h, households[h], ids[h]) for h in range(3)]
    sent = [None, None, T0]  # the third was published before the upgrade
    await pg_pool.execute(
        """
        INSERT INTO outbox (position, message_id, topic, key, payload, headers, stream, sent_at)
        SELECT (pg_current_xact_id()::text::bigint << 16) + t.ord - 1, t.id, $1, t.stream,
               t.payload, '{}', t.stream, t.sent
        FROM unnest($2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
             WITH ORDINALITY AS t(id, stream, payload, sent, ord)
        """,
        topic,
        ids,
        [store.stream_key(h) for h in households],
        [json.dumps(e) for e in envelopes],
        sent,
    )

    # No key to delete (the household has no personal events), but its clear row is cleared.
    assert await shred(settings, capsys, households[1], "--yes") == 1
    (row,) = [r for r in await raw_rows(pg_pool, topic) if ids[1] in r]
    assert households[1] not in row

    await relay_all(settings, pg_pool, topic)
    messages = await consume(settings, topic, set(ids[:2]))
    assert published(messages, ids[0]) == envelopes[0]
    del envelopes[1]["data"]["household_id"]
    assert published(messages, ids[1]) == envelopes[1]
    unsent_before = [r for r in await raw_rows(pg_pool, topic) if ids[2] not in r]
    assert len(unsent_before) == 2
    for row in unsent_before:
        assert f"legacy-{unique}" not in row, row

    async with pg_pool.acquire() as conn, conn.transaction():
        await conn.execute(MIGRATION.read_text())
    for row in await raw_rows(pg_pool, topic):
        assert f"legacy-{unique}" not in row, row

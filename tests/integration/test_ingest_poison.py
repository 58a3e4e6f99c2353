"""Hostile input at ingest's edge, on the real broker, Postgres and Temporal: each bad message is
dead-lettered with its reason and the valid event behind it on the same partition gets through.

On caf352f each of these held its partition for good: the step was retried as if the database
were down and the batch read again forever, so the valid event behind never arrived.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from outreach.events import samples
from outreach.events.topics import (
    DISABILITY_TOPIC,
    ERROR_HEADER,
    FACTS_TOPIC,
    MEDICAL_TOPIC,
)
from outreach.infra.settings import Settings
from tests.ingest_support import (
    Env,
    eventually,
    household,
    produce,
    read_topic,
    running_ingest,
    stored_count,
    triggers_of,
    uid,
)

pytestmark = pytest.mark.timeout(120)

LIMIT = 200_000
"""This module's OUTREACH_INGEST_MAX_MESSAGE_BYTES (the default is 1 MB)."""


@pytest_asyncio.fixture(scope="module")
async def env(settings: Settings, pg_pool: asyncpg.Pool) -> AsyncIterator[Env]:
    async with running_ingest(settings, pg_pool, ingest_max_message_bytes=LIMIT) as running:
        yield running


async def _bad_then_good(
    env: Env, topic: str, partition: int, bad: list[bytes], tag: str
) -> dict[str, Any]:
    """Publish ``bad`` then a valid event of ``topic`` (one that opens a case) for a fresh
    household, all on ``partition`` (each test its own, so that on caf352f each failed on its
    own input); wait until that household's case has the valid event."""
    hh_id, id_number = household(tag)
    opens = samples.settlement_recorded if topic == MEDICAL_TOPIC else samples.certificate_issued
    good = opens(household_id=hh_id, id_number=id_number)
    await produce(
        env.settings,
        env.topic(topic),
        [*bad, samples.to_value(good)],
        partition=partition,
        max_request_size=4 * 1024 * 1024,
    )
    triggers = await eventually(lambda: triggers_of(env.client, env.key(hh_id)), timeout=40)
    assert uid(good) in triggers
    assert await stored_count(env.pool, [good]) == 1
    return good


async def _letters(env: Env, values: list[bytes]) -> dict[bytes, dict[str, str]]:
    """The dead letters of ``values`` (headers decoded), once all are on the topic."""
    wanted = set(values)
    records = await read_topic(env.settings, env.ingest.deadletter_topic, at_least=1)

    async def found() -> dict[bytes, dict[str, str]] | None:
        nonlocal records
        by_value = {r.value: {k: v.decode() for k, v in r.headers} for r in records}
        if wanted <= set(by_value):
            return {v: h for v, h in by_value.items() if v in wanted}
        records = await read_topic(env.settings, env.ingest.deadletter_topic, at_least=1)
        return None

    return await eventually(found, timeout=30)


def uid_of(value: bytes) -> str:
    """The CloudEvents id a message value claims."""
    return str(json.loads(value)["id"])


async def test_a_nul_in_id_or_type_is_dead_lettered_and_the_partition_flows(env: Env) -> None:
    """Regression (poison input #1): the dead-letter log could not store the NUL that the
    message claimed as its id or type."""
    hh_id, _ = household("nul-id")
    in_id = samples.to_value_with(samples.certificate_issued(household_id=hh_id), "id", "a\u0000b")
    in_type = samples.to_value_with(
        samples.certificate_issued(household_id=hh_id), "type", "x\u0000y"
    )

    await _bad_then_good(env, DISABILITY_TOPIC, 0, [in_id, in_type], "nul-id-good")

    letters = await _letters(env, [in_id, in_type])
    assert letters[in_id][ERROR_HEADER] == "id: must not contain a NUL character (\\u0000)"
    assert letters[in_id]["event-id"] == "a\ufffdb"  # what it claimed, made storable
    assert letters[in_type][ERROR_HEADER] == "type: must not contain a NUL character (\\u0000)"
    rows = await env.pool.fetch(
        "SELECT kind, event_id, event_type FROM deadletter_log WHERE event_id = $1"
        " OR event_type = $2",
        "a\ufffdb",
        "x\ufffdy",
    )
    assert sorted((r["event_id"], r["event_type"]) for r in rows) == sorted(
        [("a\ufffdb", "disability.certificate.issued"), (uid_of(in_type), "x\ufffdy")]
    )


async def test_a_nul_inside_a_stored_field_is_dead_lettered(env: Env) -> None:
    """Regression (poison input #2): ``settlement.hospital: "医院\\u0000"`` was valid, and the
    store refused it (UntranslatableCharacterError) forever."""
    hh_id, id_number = household("nul-field")
    event = samples.settlement_recorded(household_id=hh_id, id_number=id_number)
    bad = samples.to_value_with(event, "data.settlement.hospital", "医院\u0000")

    await _bad_then_good(env, MEDICAL_TOPIC, 0, [bad], "nul-field-good")

    [headers] = (await _letters(env, [bad])).values()
    assert headers[ERROR_HEADER] == (
        "data.settlement.hospital: must not contain a NUL character (\\u0000)"
    )
    assert await stored_count(env.pool, [event]) == 0


async def test_a_time_postgres_cannot_hold_is_dead_lettered(env: Env) -> None:
    """Regression (poison input #3): ``9999-12-31T23:59:59-23:59`` is past the year 9999 in UTC
    (DataError: date value out of range)."""
    hh_id, id_number = household("time")
    event = samples.certificate_issued(household_id=hh_id, id_number=id_number)
    bad = samples.to_value_with(event, "time", "9999-12-31T23:59:59-23:59")

    await _bad_then_good(env, DISABILITY_TOPIC, 1, [bad], "time-good")

    [headers] = (await _letters(env, [bad])).values()
    assert headers[ERROR_HEADER] == "time: must be a time from 1900-01-01 to 2199-12-31 (UTC)"


async def test_a_message_over_the_limit_is_dead_lettered_or_recorded_never_retried(
    env: Env,
) -> None:
    """Regression (poison input #4): an invalid message over the producer's limit could not be
    dead-lettered (MessageSizeTooLargeError), which was retried forever. Over ingest's limit a
    message is dead-lettered unread; one too large even for the dead-letter producer is
    recorded as unpublished and skipped."""
    over = b'{"padding": "' + b"x" * (LIMIT + 10) + b'"}'  # fits the dead-letter producer
    # over the producer's default limit too (1 MB): caf352f's dead letter of it failed forever
    huge = b'{"padding": "' + b"y" * (1200 * 1024) + b'"}'

    await _bad_then_good(env, DISABILITY_TOPIC, 2, [over, huge], "size-good")

    [headers] = (await _letters(env, [over])).values()
    assert headers["error-kind"] == "size"
    assert (
        headers[ERROR_HEADER] == f"the message is {len(over):,} bytes; the limit is {LIMIT:,} bytes"
    )
    rows = await env.pool.fetch(
        "SELECT reason, publish_error FROM deadletter_log WHERE kind = 'size'"
        " AND source_topic = $1 ORDER BY source_offset",
        env.topic(DISABILITY_TOPIC),
    )
    assert [r["publish_error"] is None for r in rows] == [True, False]
    assert "MessageSizeTooLargeError" in rows[1]["publish_error"]


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (
            "data.fact.count",
            3_000_000_000,
            "data.fact.count: Input should be less than or equal to 2147483647",
        ),
        (
            "data.household.district",
            "d" * 10_000,
            "data.household.district: must be at most 100 characters, got 10000",
        ),
    ],
)
async def test_values_past_what_a_column_or_temporal_holds_are_dead_lettered(
    env: Env, path: str, value: Any, reason: str
) -> None:
    """The edge's part of poison input #5 and #6: a count past ``integer`` and a district past
    what a search attribute holds are refused before anything stores or starts them."""
    hh_id, id_number = household("bounds")
    event = samples.fact_reported(household_id=hh_id, id_number=id_number)
    bad = samples.to_value_with(event, path, value)

    await produce(env.settings, env.topic(FACTS_TOPIC), [bad])
    [headers] = (await _letters(env, [bad])).values()
    assert headers[ERROR_HEADER] == reason
    assert await stored_count(env.pool, [event]) == 0

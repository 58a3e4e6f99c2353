"""Ingest end to end on the real broker, Postgres and Temporal.

One ingest (own topic prefix, own consumer group) and one Temporal worker running the stand-in
case workflow (``tests.minimal_case``, on a task queue of its own) serve every test
in this module; each test uses households of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from outreach.cases.deadletters import deadlettered_by_kind, deadlettered_count
from outreach.events import samples
from outreach.events.topics import (
    DISABILITY_TOPIC,
    ERROR_HEADER,
    MEDICAL_TOPIC,
    SOURCE_TOPIC_HEADER,
)
from outreach.infra.settings import Settings
from outreach.projections import HouseholdFactsProjection, subscription_for
from outreach.workflows.case_contract import case_workflow_id
from tests.ingest_support import (
    Env,
    all_committed,
    eventually,
    household,
    produce,
    read_topic,
    running_ingest,
    stored_count,
    triggers_of,
    uid,
)

pytestmark = pytest.mark.timeout(180)


@pytest_asyncio.fixture(scope="module")
async def env(settings: Settings, pg_pool: asyncpg.Pool) -> AsyncIterator[Env]:
    async with running_ingest(settings, pg_pool) as running:
        yield running


async def signals_received(client: Client, household_key: str) -> int:
    handle = client.get_workflow_handle(case_workflow_id(household_key))
    count = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            count += 1
    return count


# -- each inbound type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type",
    ["disability.certificate.issued", "medical.settlement.recorded", "monitoring.household.listed"],
)
async def test_a_case_opening_event_is_stored_and_starts_the_household_case(
    env: Env, event_type: str
) -> None:
    household_id, id_number = household("open")
    event = samples.sample_event(event_type, household_id=household_id, id_number=id_number)
    await env.publish(event)
    key = env.key(household_id)

    assert await eventually(lambda: triggers_of(env.client, key)) == [uid(event)]
    row = await env.pool.fetchrow(
        "SELECT stream, type, data::text AS data, metadata FROM events WHERE event_id = $1",
        uuid.UUID(uid(event)),
    )
    assert row is not None
    assert (row["stream"], row["type"]) == (key, event_type)
    # personal fields are encrypted: neither the ID number nor the household id is readable
    assert id_number not in row["data"] and household_id not in row["data"]
    assert json.loads(row["data"])["personal"]["enc"] == "A256GCM"
    recorded = (await env.store.read_stream(key))[0]
    assert recorded.personal is not None
    assert recorded.personal["household"]["household_id"] == household_id


async def test_an_expiry_reminder_joins_an_open_case_but_never_opens_one(env: Env) -> None:
    lonely_id, lonely_number = household("exp")
    reminder = samples.certificate_expiring(household_id=lonely_id, id_number=lonely_number)
    await env.publish(reminder)
    await eventually(lambda: stored_count(env.pool, [reminder]))
    outcome = await eventually(
        lambda: env.pool.fetchval(
            "SELECT outcome FROM ingest_deliveries WHERE event_id = $1", uuid.UUID(uid(reminder))
        )
    )
    assert outcome == "no_open_case"
    assert await triggers_of(env.client, env.key(lonely_id)) is None

    household_id, id_number = household("join")
    issued = samples.certificate_issued(household_id=household_id, id_number=id_number)
    expiring = samples.certificate_expiring(household_id=household_id, id_number=id_number)
    await env.publish(issued)
    key = env.key(household_id)
    await eventually(lambda: triggers_of(env.client, key))
    await env.publish(expiring)
    assert await eventually(lambda: _when_len(triggers_of(env.client, key), 2)) == [
        uid(issued),
        uid(expiring),
    ]


async def test_a_fact_is_stored_and_projected_and_starts_no_case(env: Env) -> None:
    household_id, id_number = household("fact")
    fact = samples.fact_reported(
        household_id=household_id, id_number=id_number, kind="income", amount=1234.5
    )
    await env.publish(fact)
    await eventually(lambda: stored_count(env.pool, [fact]))
    await subscription_for(env.store, HouseholdFactsProjection()).catch_up()
    key = env.key(household_id)
    row = await env.pool.fetchrow(
        "SELECT kind, amount, district FROM household_facts WHERE household = $1", key
    )
    assert row is not None and (row["kind"], str(row["amount"]), row["district"]) == (
        "income",
        "1234.5",
        "yongding",
    )
    assert await triggers_of(env.client, key) is None
    assert not await env.pool.fetchval(
        "SELECT count(*) FROM ingest_deliveries WHERE event_id = $1", uuid.UUID(uid(fact))
    )


# -- duplicates and joining -------------------------------------------------------------------


async def test_the_same_event_delivered_three_times_is_stored_once_and_signalled_once(
    env: Env,
) -> None:
    household_id, id_number = household("dup")
    event = samples.settlement_recorded(household_id=household_id, id_number=id_number)
    key = env.key(household_id)
    # three deliveries, different keys so they may land on different partitions and batches
    for n in range(3):
        await env.publish(event, key=f"copy-{n}".encode())
    await eventually(lambda: triggers_of(env.client, key))
    marker = samples.certificate_expiring(household_id=household_id, id_number=id_number)
    await env.publish(marker, key=b"copy-2")  # behind the last copy on its partition
    await eventually(lambda: _when_len(triggers_of(env.client, key), 2))
    await eventually(lambda: _all_consumed(env))

    assert await triggers_of(env.client, key) == [uid(event), uid(marker)]
    assert await stored_count(env.pool, [event]) == 1
    assert await env.pool.fetchval("SELECT count(*) FROM events WHERE stream = $1", key) == 2
    assert await signals_received(env.client, key) == 2  # one per distinct event


async def test_two_agencies_events_for_one_household_join_one_case(env: Env) -> None:
    household_id, id_number = household("two")
    certificate = samples.certificate_issued(household_id=household_id, id_number=id_number)
    settlement = samples.settlement_recorded(household_id=household_id, id_number=id_number)
    listed = samples.household_listed(household_id=household_id, id_number=id_number)
    await env.publish(certificate, settlement, listed)
    key = env.key(household_id)
    triggers = await eventually(lambda: _when_len(triggers_of(env.client, key), 3))
    assert sorted(triggers) == sorted(uid(e) for e in (certificate, settlement, listed))
    # one case: a single workflow run holds all three
    runs = [w async for w in env.client.list_workflows(f"WorkflowId = '{case_workflow_id(key)}'")]
    assert len(runs) == 1
    versions = await env.pool.fetch(
        "SELECT version FROM events WHERE stream = $1 ORDER BY version", key
    )
    assert [r["version"] for r in versions] == [1, 2, 3]


# -- dead letters -----------------------------------------------------------------------------


async def test_each_kind_of_bad_input_is_dead_lettered_and_the_partition_keeps_flowing(
    env: Env,
) -> None:
    before = await deadlettered_count(env.pool)
    kinds_before = await deadlettered_by_kind(env.pool)
    hh_id, id_number = household("dlq")
    good_first = samples.certificate_issued(household_id=hh_id, id_number=id_number)
    good_last = samples.settlement_recorded(household_id=hh_id, id_number=id_number)
    good_behind = samples.certificate_expiring(household_id=hh_id, id_number=id_number)

    bad_check_digit = samples.certificate_issued(household_id=hh_id, id_number=id_number)
    bad_check_digit["data"]["person"]["id_number"] = _wrong_check_digit(id_number)
    legacy = samples.certificate_issued(household_id=hh_id, id_number=id_number)
    legacy["data"]["person"]["id_number"] = id_number[:6] + id_number[8:17]
    schema = samples.certificate_issued(household_id=hh_id, id_number=id_number)
    schema["data"]["certificate"]["grade"] = 7
    unknown = {**samples.certificate_issued(household_id=hh_id), "type": "disability.unknown"}
    wrong_topic = samples.fact_reported(household_id=hh_id, id_number=id_number)
    bad: list[tuple[bytes, str]] = [
        (b'{"specversion": "1.0", "id": ', "json"),
        (b"\xff\xfe not utf-8", "json"),
        (samples.to_value(unknown), "unknown_type"),
        (samples.to_value(schema), "schema"),
        (samples.to_value(bad_check_digit), "id_number"),
        (samples.to_value(legacy), "id_number"),
        (samples.to_value(wrong_topic), "topic"),
    ]
    topic = env.topic(DISABILITY_TOPIC)
    values = [samples.to_value(good_first), *(v for v, _ in bad), samples.to_value(good_behind)]
    # all on one partition, good ones before and behind the bad ones
    await produce(env.settings, topic, values, partition=0)
    await produce(env.settings, env.topic(MEDICAL_TOPIC), [samples.to_value(good_last)])
    await produce(env.settings, topic, [samples.to_value(good_last)], partition=0)  # wrong topic

    key = env.key(hh_id)
    triggers = await eventually(lambda: _when_len(triggers_of(env.client, key), 3))
    assert uid(good_behind) in triggers  # the partition kept flowing past the bad input
    letters = await read_topic(env.settings, env.ingest.deadletter_topic, at_least=len(bad) + 1)
    by_value = {r.value: r for r in letters}
    for value, kind in bad:
        record = by_value[value]
        headers = {k: v.decode() for k, v in record.headers}
        assert headers[SOURCE_TOPIC_HEADER] == topic
        assert headers["error-kind"] == kind
        assert headers[ERROR_HEADER]  # readable reason
        assert id_number not in headers[ERROR_HEADER]  # never echoes the ID number
    reasons = {
        kind: {k: v.decode() for k, v in by_value[v].headers}[ERROR_HEADER] for v, kind in bad
    }
    assert "check digit" in reasons["id_number"] or "15-digit" in reasons["id_number"]
    assert "unknown event type" in reasons["unknown_type"]
    assert "not valid JSON" in reasons["json"] or "UTF-8" in reasons["json"]
    # medical.settlement.recorded on the disability topic is dead-lettered as "topic"
    misplaced = by_value[samples.to_value(good_last)]
    assert {k: v.decode() for k, v in misplaced.headers}["error-kind"] == "topic"
    assert values[0] not in by_value and values[-1] not in by_value  # good ones are not

    assert await stored_count(env.pool, [good_first, good_last, good_behind]) == 3
    assert await deadlettered_count(env.pool) - before == len(bad) + 1
    kinds = await deadlettered_by_kind(env.pool)
    assert kinds.get("id_number", 0) - kinds_before.get("id_number", 0) == 2
    assert kinds.get("topic", 0) - kinds_before.get("topic", 0) == 2


# -- helpers ----------------------------------------------------------------------------------


async def _when_len(result: Any, n: int) -> Any:
    value = await result
    return value if value is not None and len(value) >= n else None


async def _all_consumed(env: Env) -> bool:
    return await all_committed(env.settings, env.settings.ingest_group_id, env.ingest.topics)


def _wrong_check_digit(id_number: str) -> str:
    last = id_number[-1]
    return id_number[:-1] + ("0" if last != "0" else "1")

"""The seed's Yongding household, end to end on the time-skipping server with real activities:
visit, verification, decision (dibao (650 - 0) x 4 = 2600/month and a one-off temporary
assistance of 3900), approval, seven days of publicity, enrolment on ``outreach.enrollments``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from temporalio.testing import WorkflowEnvironment

from outreach.events import samples as s
from outreach.events.topics import CASES_TOPIC, ENROLLMENTS_TOPIC
from outreach.infra.settings import Settings
from outreach.relay.outbox import Relay
from outreach.store.event_store import EventStore
from outreach.store.personal_data import load_keyring
from outreach.workflows.case_contract import (
    APPROVAL_UPDATE,
    VISIT_RESULT_UPDATE,
    Approval,
    Stage,
    UpdateAck,
)
from tests.case_support import case_rig, found, new_household
from tests.replay.recording import record


async def test_yongding_household_is_visited_verified_decided_and_enrolled(
    time_skipping_env: WorkflowEnvironment, store: EventStore, settings: Settings
) -> None:
    async with case_rig(time_skipping_env, store) as rig:
        household_id, id_number = new_household("yongding")
        # The breadwinner's kidney transplant: 150,000 yuan out of pocket.
        trigger = await rig.agency_event(
            s.settlement_recorded(
                household_id=household_id,
                id_number=id_number,
                total_cost=210000,
                fund_paid=60000,
                out_of_pocket=150000,
            )
        )
        handle = await rig.open_case(trigger)
        task_id = await rig.open_task(handle)
        status = await rig.status(handle)
        assert status.stage == Stage.VISIT
        assert status.programmes == ("dibao", "temporary_assistance")
        case_id = status.case_id

        # Four people, nobody able to work (the breadwinner ill, the spouse caring, two
        # children), no income, one home.
        ack = await handle.execute_update(
            VISIT_RESULT_UPDATE,
            found(task_id, await rig.today(), size=4, notes="家中无收入来源"),
            result_type=UpdateAck,
        )
        assert ack.stage == Stage.VERIFY
        status = await rig.until(handle, lambda st: st.stage == Stage.APPROVAL, what="approval")
        decision = status.decision
        assert decision is not None and decision.approval_required
        awards = {a.programme: a for a in decision.awards}
        assert set(awards) == {"dibao", "temporary_assistance"}
        assert str(awards["dibao"].monthly_amount) == "2600.00"
        assert str(awards["temporary_assistance"].one_off_amount) == "3900.00"

        ack = await handle.execute_update(
            APPROVAL_UPDATE,
            Approval(approved=True, supervisor="yd-supervisor-1", decision_id=decision.decision_id),
            result_type=UpdateAck,
        )
        assert ack.stage == Stage.PUBLICITY
        status = await rig.until(
            handle, lambda st: st.publicity_ends_at is not None, what="publicity"
        )
        assert status.publicity_ends_at is not None
        remaining = status.publicity_ends_at - await time_skipping_env.get_current_time()
        assert timedelta(days=6, hours=23) < remaining <= timedelta(days=7)

        outcome = await handle.result()  # the server skips the seven days of publicity
        assert outcome.outcome == "enrolled"
        assert outcome.reason == ("awarded dibao 2600.00/month, temporary_assistance 3900.00 once")

        # The domain timeline, in order.
        types = [t for t, _ in await rig.events(trigger.household_key, case_id)]
        assert types == [
            "CaseOpened",
            "VisitScheduled",
            "NoticeSent",
            "VisitCompleted",
            "EconomicStatusChecked",
            "EligibilityAssessed",
            "ApprovalRequested",
            "ApprovalRecorded",
            "PublicityStarted",
            "PublicityEnded",
            "EnrollmentFinalized",
            "CaseClosed",
        ]
        events = dict(await rig.events(trigger.household_key, case_id))
        assert events["VisitCompleted"]["personal"] == {"notes": "家中无收入来源"}
        # Temporal's history knows the household only by its keyed hash.
        history = _payload_text((await handle.fetch_history()).to_json_dict())
        assert trigger.household_key in history and "2600.00" in history
        assert household_id not in history and id_number not in history

        # What the activity recorded in the outbox: the contract's shape.
        outbox = await rig.outbox(case_id)
        assert [topic for topic, _ in outbox] == [ENROLLMENTS_TOPIC, CASES_TOPIC]
        enrolled = outbox[0][1]
        assert enrolled["type"] == "outreach.enrollment.finalized"
        data = enrolled["data"]
        assert data["case_id"] == case_id
        assert data["household_id"] == household_id
        assert data["district"] == "yongding"
        assert sorted(data["programmes"], key=lambda p: p["programme"]) == [
            {
                "programme": "dibao",
                "monthly_amount": "2600.00",
                "effective_from": decision.decided_on.isoformat(),
            },
            {
                "programme": "temporary_assistance",
                "one_off_amount": "3900.00",
                "effective_from": decision.decided_on.isoformat(),
            },
        ]
        standard = _parameter(data["decision_trace"], "dibao.income_below_standard", "urban")
        assert standard["value"] == "650" and standard["effective_from"] == "2023-01-01"
        closed = outbox[1][1]
        assert closed["type"] == "outreach.case.closed"
        assert closed["data"]["outcome"] == "enrolled"

        assert await rig.notifications(case_id) == [
            ("household", "sms", "notice"),
            ("supervisor", "inbox", "approval_request"),
            ("household", "letter", "enrolled"),
        ]

        # And the relay publishes it to the topic, with the id the activity gave it.
        published = await _relay_and_read(settings, rig.pool, ENROLLMENTS_TOPIC, enrolled["id"])
        assert published["data"]["programmes"] == data["programmes"]
        assert published["data"]["household_id"] == household_id  # opened from its sealed row
        assert published["subject"] == case_id
        await record(handle, "case_enrolled_yongding")


def _payload_text(node: Any) -> str:
    """Every payload of a history (JSON form: base64 ``data``), decoded, as one text."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("data"), str) and isinstance(value.get("metadata"), dict):
                found.append(base64.b64decode(value["data"]).decode("utf-8", "replace"))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(node)
    return "\n".join(found)


def _parameter(trace: list[dict[str, Any]], rule: str, name_part: str) -> dict[str, Any]:
    for check in trace:
        if check["rule"] == rule:
            for used in check["parameters"]:
                if name_part in used["name"]:
                    return dict(used)
    raise AssertionError(f"no parameter like {name_part!r} in rule {rule}")


async def _relay_and_read(
    settings: Settings, pool: asyncpg.Pool, topic: str, message_id: str
) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    stop = asyncio.Event()
    relay = Relay(pool, settings.kafka_servers, keyring=load_keyring(settings), poll_interval=0.2)
    running = asyncio.create_task(relay.run(stop))
    try:
        for _ in range(150):
            sent = await pool.fetchval(
                "SELECT sent_at IS NOT NULL FROM outbox WHERE message_id = $1", message_id
            )
            if sent:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the relay did not publish the enrolment")
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or {0}
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        for _ in range(60):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    assert record.value is not None
                    message: dict[str, Any] = json.loads(record.value)
                    if message["id"] == message_id:
                        return message
    finally:
        await consumer.stop()
    raise AssertionError(f"message {message_id} not found on {topic}")

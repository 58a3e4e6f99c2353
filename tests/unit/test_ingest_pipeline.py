"""The batch pipeline with in-memory fakes: order of steps, dedupe, dead letters, and retries.

The fakes fail on purpose, which is how a transient Postgres or Temporal failure looks to the
pipeline (the integration tests cut real connections as well).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest
from aiokafka.errors import MessageSizeTooLargeError
from temporalio.client import Client

from outreach.events import InboundEvent, samples
from outreach.events.registry import REGISTRY
from outreach.events.topics import DISABILITY_TOPIC, ERROR_HEADER, SOURCE_TOPIC_HEADER
from outreach.infra.failures import is_permanent
from outreach.ingest.case_signals import (
    CaseSignal,
    CaseSignaller,
    Delivered,
    DeliveryReport,
    Outcome,
)
from outreach.ingest.deadletter import DeadLetter, RawRecord
from outreach.ingest.pipeline import (
    Backoff,
    BatchProcessor,
    Parsed,
    Stored,
    TransientFailure,
    validate_batch,
)
from outreach.workflows.case_contract import Trigger

QUICK = Backoff(initial=0.001, maximum=0.005, window=0.5)


@dataclass
class FakeStore:
    failures: int = 0
    events: dict[str, InboundEvent] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)
    deadletters: list[DeadLetter] = field(default_factory=list)
    calls: int = 0
    chunks: list[int] = field(default_factory=list)
    """Chunks pulled per successful store call."""
    refuse: set[str] = field(default_factory=set)
    """Event ids the database refuses for good (a value out of its column's range)."""
    unpublished: list[tuple[DeadLetter, str]] = field(default_factory=list)

    async def store(self, chunks: Iterable[Parsed]) -> list[Stored]:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("postgres is down")
        parsed = list(chunks)
        self.chunks.append(len(parsed))
        events = [e for p in parsed for e in p.events]
        if any(str(e.event_uuid) in self.refuse for e in events):
            raise asyncpg.exceptions.NumericValueOutOfRangeError("value out of int32 range")
        deadletters = [d for p in parsed for d in p.deadletters]
        out = []
        for e in events:
            key = str(e.event_uuid)
            out.append(
                Stored(e, f"key-{e.household_id}", key not in self.events, key in self.delivered)
            )
            self.events.setdefault(key, e)
        self.deadletters.extend(deadletters)
        return out

    async def mark_delivered(self, delivered: Sequence[Delivered]) -> None:
        self.delivered.update(d.event_id for d in delivered)

    async def record_unpublished(self, letter: DeadLetter, error: str) -> None:
        self.unpublished.append((letter, error))


@dataclass
class FakeCases:
    fail_households: dict[str, int] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def deliver(self, signals: Sequence[CaseSignal]) -> DeliveryReport:
        report = DeliveryReport()
        broken: set[str] = set()
        for s in signals:
            household = s.trigger.household_key
            if household in broken:
                continue
            if self.fail_households.get(household, 0):
                self.fail_households[household] -= 1
                broken.add(household)
                report.failures.append(TimeoutError("temporal is down"))
                continue
            self.sent.append((household, s.trigger.event_id))
            if s.may_open:
                self.running.add(household)
            outcome = (
                Outcome.DELIVERED
                if s.may_open or household in self.running
                else Outcome.NO_OPEN_CASE
            )
            report.delivered.append(Delivered(s.trigger.event_id, s.workflow_id, outcome))
        return report


@dataclass
class FakePublisher:
    sent: list[tuple[bytes, bytes | None, dict[str, str]]] = field(default_factory=list)
    limit: int | None = None
    """Larger values are refused as the broker refuses them."""
    attempts: int = 0

    async def __call__(self, value: bytes, key: bytes | None, headers: Mapping[str, str]) -> None:
        self.attempts += 1
        if self.limit is not None and len(value) > self.limit:
            raise MessageSizeTooLargeError("the message is too large")
        self.sent.append((value, key, dict(headers)))


def record(event: dict[str, object] | bytes, offset: int, topic: str | None = None) -> RawRecord:
    if isinstance(event, bytes):
        value, where = event, topic or DISABILITY_TOPIC
    else:
        value, where = samples.to_value(event), topic or REGISTRY[str(event["type"])].topic
    return RawRecord(where, 0, offset, 1_700_000_000_000 + offset, b"k", value)


def processor(
    store: FakeStore, cases: FakeCases, publisher: FakePublisher, backoff: Backoff = QUICK
) -> BatchProcessor:
    return BatchProcessor(store, cases, publisher, backoff=backoff)


async def test_a_mixed_batch_is_stored_dead_lettered_and_delivered() -> None:
    store, cases, publisher = FakeStore(), FakeCases(), FakePublisher()
    opens = samples.certificate_issued(household_id="HH-1")
    joins = samples.certificate_expiring(household_id="HH-1")
    lonely = samples.certificate_expiring(household_id="HH-2")
    fact = samples.fact_reported(household_id="HH-3")
    records = [record(opens, 0), record(b"{nope", 1), record(joins, 2), record(lonely, 3)]
    records.append(record(fact, 4))

    report = await processor(store, cases, publisher).process(records)

    assert (report.records, report.stored, report.deadlettered) == (5, 4, 1)
    assert (report.delivered, report.no_open_case) == (2, 1)
    assert [e for _, e in cases.sent] == [str(opens_id(e)) for e in (opens, joins, lonely)]
    value, key, headers = publisher.sent[0]
    assert (value, key) == (b"{nope", b"k")
    assert headers[SOURCE_TOPIC_HEADER] == DISABILITY_TOPIC
    assert headers["error-kind"] == "json" and "not valid JSON" in headers[ERROR_HEADER]
    assert headers["source-offset"] == "1"
    assert len(store.deadletters) == 1  # logged in the same store call
    assert str(opens_id(fact)) not in store.delivered  # facts never go to a case


async def test_repeats_in_a_batch_and_redeliveries_are_sent_once() -> None:
    store, cases, publisher = FakeStore(), FakeCases(), FakePublisher()
    event = samples.settlement_recorded(household_id="HH-9")
    pipeline = processor(store, cases, publisher)
    report = await pipeline.process([record(event, 0), record(event, 1), record(event, 2)])
    assert (report.stored, report.duplicates, report.delivered) == (1, 2, 1)
    again = await pipeline.process([record(event, 3)])  # redelivered after a restart
    assert (again.stored, again.duplicates, again.delivered) == (0, 1, 0)
    assert len(cases.sent) == 1


async def test_a_batch_is_validated_and_stored_a_chunk_at_a_time_in_one_store_call() -> None:
    """The store pulls the chunks (so it can write one while the next is validated); repeats
    are found across chunk boundaries and dead letters of every chunk are reported."""
    store, cases, publisher = FakeStore(), FakeCases(), FakePublisher()
    facts = [samples.fact_reported(household_id=f"HH-{i % 7}", event_id=f"f-{i}") for i in range(9)]
    records = [record(f, i) for i, f in enumerate(facts)]
    records.insert(4, record(facts[0], 99))  # the same event again, in the second chunk
    records.append(record(b"[]", 100))  # a dead letter in the last chunk
    pipeline = BatchProcessor(store, cases, publisher, backoff=QUICK, chunk=4)

    report = await pipeline.process(records)

    assert store.calls == 1 and store.chunks == [3]  # 11 records, 4 per chunk
    assert (report.records, report.stored, report.duplicates, report.deadlettered) == (11, 9, 1, 1)
    assert [e.id for e in store.events.values()] == [f"f-{i}" for i in range(9)]
    assert len(store.deadletters) == 1 and len(publisher.sent) == 1


async def test_a_store_outage_is_retried_and_nothing_is_dead_lettered_meanwhile() -> None:
    store, cases, publisher = FakeStore(failures=3), FakeCases(), FakePublisher()
    event = samples.household_listed(household_id="HH-4")
    report = await processor(store, cases, publisher).process([record(event, 0)])
    assert store.calls == 4
    assert report.stored == 1 and report.delivered == 1
    assert publisher.sent == []


async def test_a_long_outage_gives_up_the_batch_without_side_effects() -> None:
    store, cases, publisher = FakeStore(failures=10**6), FakeCases(), FakePublisher()
    event = samples.household_listed(household_id="HH-5")
    with pytest.raises(TransientFailure, match="store kept failing"):
        await processor(store, cases, publisher).process([record(event, 0), record(b"", 1)])
    assert publisher.sent == [] and cases.sent == []  # the caller rewinds; nothing committed


async def test_a_temporal_failure_resends_only_the_households_that_failed() -> None:
    store = FakeStore()
    cases = FakeCases(fail_households={"key-HH-B": 2})
    publisher = FakePublisher()
    a1, b1, b2 = (
        samples.certificate_issued(household_id="HH-A"),
        samples.certificate_issued(household_id="HH-B"),
        samples.settlement_recorded(household_id="HH-B"),
    )
    report = await processor(store, cases, publisher).process(
        [record(a1, 0), record(b1, 1), record(b2, 2)]
    )
    assert report.delivered == 3
    assert cases.sent == [
        ("key-HH-A", str(opens_id(a1))),
        ("key-HH-B", str(opens_id(b1))),
        ("key-HH-B", str(opens_id(b2))),
    ]
    assert store.delivered == {str(opens_id(e)) for e in (a1, b1, b2)}


async def test_a_case_outage_beyond_the_window_raises_after_storing() -> None:
    store = FakeStore()
    cases = FakeCases(fail_households={"key-HH-C": 10**6})
    event = samples.certificate_issued(household_id="HH-C")
    with pytest.raises(TransientFailure, match="case delivery"):
        await processor(store, cases, FakePublisher()).process([record(event, 0)])
    assert str(opens_id(event)) in store.events and not store.delivered


def test_validation_names_each_kind_of_bad_input() -> None:
    good = samples.certificate_issued()
    bad_id = samples.certificate_issued()
    bad_id["data"]["person"]["id_number"] = "43080219680423031"  # 17 characters
    unknown = {**samples.certificate_issued(), "type": "nobody.knows"}
    parsed = validate_batch(
        [
            record(good, 0),
            record(b"\x00\x01", 1),
            record(unknown, 2, DISABILITY_TOPIC),
            record(bad_id, 3),
            record(samples.fact_reported(), 4, DISABILITY_TOPIC),
        ]
    )
    assert [e.id for e in parsed.events] == [good["id"]]
    assert [d.kind for d in parsed.deadletters] == ["json", "unknown_type", "id_number", "topic"]
    assert all(d.reason for d in parsed.deadletters)


def test_a_topic_prefix_is_not_part_of_the_contract_topic() -> None:
    event = samples.certificate_issued()
    raw = RawRecord("t1." + DISABILITY_TOPIC, 0, 0, 0, None, samples.to_value(event))
    assert validate_batch([raw], "t1.").events and not validate_batch([raw]).events


def test_backoff_grows_and_stops_at_the_window() -> None:
    next_delay = Backoff(initial=0.01, factor=2, maximum=0.03, window=10).delays()
    delays = [next_delay() for _ in range(5)]
    assert all(d is not None for d in delays)
    assert delays[0] is not None and delays[0] <= 0.01
    assert max(d for d in delays if d is not None) <= 0.03
    assert Backoff(window=0.0).delays()() is None


def test_dead_letter_headers_carry_provenance_but_no_content() -> None:
    bad = samples.certificate_issued()
    bad["data"]["person"]["id_number"] = bad["data"]["person"]["id_number"][:-1] + "Y"
    letter = validate_batch([record(bad, 7)]).deadletters[0]
    headers = letter.headers()
    assert headers["error-kind"] == "id_number"
    assert headers["event-type"] == "disability.certificate.issued"
    assert headers["event-id"] == bad["id"]
    assert bad["data"]["person"]["id_number"] not in json.dumps(headers)


def opens_id(event: dict[str, object]) -> object:
    from outreach.events import event_uuid

    return event_uuid(str(event["source"]), str(event["id"]))


async def test_the_signaller_sends_long_household_chains_first_each_in_order() -> None:
    """One household's signals go one after another; the household with the most goes first,
    so it does not hold the batch up after the others are done."""
    sent: list[str] = []

    class Recording:
        async def start_workflow(self, *args: Any, **kwargs: Any) -> None:
            sent.append(kwargs["start_signal_args"][0].event_id)

    def signal(household: str, n: int) -> CaseSignal:
        at = datetime(2024, 3, 1, tzinfo=UTC)
        trigger = Trigger(f"{household}-{n}", "x", "/s", at, household, "cili", True)
        return CaseSignal(trigger, may_open=True)

    signals = [signal("a", 1), signal("b", 1), signal("c", 1), signal("b", 2), signal("b", 3)]
    signaller = CaseSignaller(cast(Client, Recording()), concurrency=1)
    report = await signaller.deliver(signals)
    assert not report.failures and len(report.delivered) == 5
    assert sent == ["b-1", "b-2", "b-3", "a-1", "c-1"]


# -- permanent failures: set aside at once, never retried as an outage ----------------------


async def test_an_event_the_database_refuses_is_dead_lettered_and_the_rest_stored() -> None:
    refused = samples.fact_reported(household_id="HH-P1")
    before = samples.certificate_issued(household_id="HH-P1")
    after = samples.certificate_expiring(household_id="HH-P1")
    store = FakeStore(refuse={str(opens_id(refused))})
    cases, publisher = FakeCases(), FakePublisher()
    records = [record(before, 0), record(refused, 1), record(b"{nope", 2), record(after, 3)]
    # a window long enough to fail the test if the refusal were retried as an outage
    slow = Backoff(initial=0.5, maximum=0.5, window=30.0)

    report = await processor(store, cases, publisher, backoff=slow).process(records)

    assert set(store.events) == {str(opens_id(before)), str(opens_id(after))}
    assert (report.stored, report.deadlettered) == (2, 2)
    kinds = {d.kind for d in store.deadletters}
    assert kinds == {"json", "unstorable"}
    unstorable = next(d for d in store.deadletters if d.kind == "unstorable")
    assert unstorable.record.offset == 1 and unstorable.event_id == refused["id"]
    assert "could not be stored (NumericValueOutOfRangeError, SQLSTATE 22003)" in (
        unstorable.reason
    )
    assert [h[ERROR_HEADER] for _, _, h in publisher.sent] == [d.reason for d in store.deadletters]
    # each household's events still reach its case in order
    assert [e for _, e in cases.sent] == [str(opens_id(before)), str(opens_id(after))]


async def test_a_dead_letter_the_broker_refuses_is_recorded_and_skipped() -> None:
    store, cases = FakeStore(), FakeCases()
    publisher = FakePublisher(limit=1000)
    good = samples.certificate_issued(household_id="HH-P2")
    huge = b'{"not": "an event", "padding": "' + b"x" * 5000 + b'"}'
    slow = Backoff(initial=0.5, maximum=0.5, window=30.0)

    report = await processor(store, cases, publisher, backoff=slow).process(
        [record(huge, 0), record(good, 1)]
    )

    assert (report.stored, report.deadlettered, report.delivered) == (1, 1, 1)
    assert publisher.attempts == 1 and not publisher.sent  # tried once, not retried
    [(letter, error)] = store.unpublished
    assert letter.record.offset == 0 and "MessageSizeTooLargeError" in error


def test_a_message_over_the_size_limit_is_dead_lettered_unread() -> None:
    event = samples.certificate_issued(household_id="HH-P3")
    value = samples.to_value(event)
    parsed = validate_batch([record(event, 0)], max_bytes=len(value) - 1)
    [letter] = parsed.deadletters
    assert letter.kind == "size" and not parsed.events
    assert f"the message is {len(value):,} bytes; the limit is {len(value) - 1:,}" in (
        letter.reason
    )
    assert validate_batch([record(event, 0)], max_bytes=len(value)).events


async def test_a_case_delivery_temporal_refuses_is_not_retried() -> None:
    from temporalio.service import RPCError, RPCStatusCode

    assert is_permanent(RPCError("too large", RPCStatusCode.INVALID_ARGUMENT, b""))
    assert not is_permanent(RPCError("down", RPCStatusCode.UNAVAILABLE, b""))
    assert is_permanent(asyncpg.exceptions.CharacterNotInRepertoireError("nul"))
    assert not is_permanent(asyncpg.exceptions.UndefinedTableError("no migration"))
    assert not is_permanent(asyncpg.exceptions.ConnectionDoesNotExistError("gone"))
    assert not is_permanent(ConnectionRefusedError("down"))

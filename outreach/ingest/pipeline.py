"""What ingest does with one batch of Kafka records, independent of the Kafka client.

For a batch (records of several partitions, each partition's in offset order):

1. **validate** every record (:func:`outreach.events.parse_inbound`); bad input becomes a
   :class:`DeadLetter`; a record repeating an earlier one's ``(source, id)`` in the same batch is
   dropped (it is the same event);
2. **store** the valid events and log the dead letters in one database transaction
   (:class:`IngestStore`), idempotently by event id, each household's events in batch order.
   Steps 1 and 2 run in chunks of :data:`CHUNK` records: the store pulls (validates) chunk k+1
   while the database writes chunk k, so the CPU work of validation and the database's work on
   the other core overlap instead of taking turns;
3. **publish** the dead letters to ``outreach.deadletter`` (original bytes, reason headers);
4. **deliver** each stored event that concerns a case and was not delivered before to its
   household's OutreachCase (:class:`CaseSink`), per household in order;
5. **record** those deliveries, so a redelivered event is not sent again.

Only when all of that succeeded does the caller commit the batch's offsets. A step that fails is
sorted (``outreach.infra.failures``). Transient (a database or Temporal outage, not bad input):
retried with backoff (:class:`Backoff`) for a while, nothing dead-lettered and nothing committed
meanwhile; when the retry window runs out the step raises :class:`TransientFailure` and the
caller rewinds the batch to be read again; every step above is idempotent, so a repeat (or a
crash anywhere) stores nothing twice and signals nothing twice. Permanent (this input can never
be handled): never retried as if the database were down. A store step that fails so stores the
batch's events one at a time and dead-letters those the database refuses (``unstorable``); a
dead letter the broker refuses is recorded as unpublished and skipped; a case delivery Temporal
refuses is logged and recorded as ``rejected``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from outreach.events import CaseEffect, InboundEvent, InvalidEvent, parse_inbound
from outreach.infra.failures import is_permanent
from outreach.infra.log import get_logger
from outreach.ingest.case_signals import CaseSignal, Delivered, DeliveryReport, Outcome
from outreach.ingest.deadletter import DeadLetter, DeadLetterPublisher, RawRecord
from outreach.ingest.triggers import trigger_for

__all__ = [
    "CHUNK",
    "Backoff",
    "BatchProcessor",
    "BatchReport",
    "CaseSink",
    "IngestStore",
    "Parsed",
    "PermanentFailure",
    "Stored",
    "TransientFailure",
    "validate_batch",
]

log = get_logger(__name__)
T = TypeVar("T")

CHUNK = 100
"""Records validated, and stored in one statement, at a time (a batch is a few chunks)."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A valid event after the store step."""

    event: InboundEvent
    household_key: str
    new: bool
    """False when the event id was already in the event store (a redelivery)."""
    delivered: bool
    """True when an earlier attempt already delivered it to its case (or found none open)."""


class IngestStore(Protocol):
    """The database side of ingest (``ingest_store.EventStoreIngest`` in production)."""

    async def store(self, chunks: Iterable[Parsed]) -> list[Stored]:
        """Append each chunk's new events and log its dead letters, all in one transaction;
        report every event, in order. Pulling the next chunk validates it: a store should do
        that while the database is busy with the previous one."""
        raise NotImplementedError

    async def mark_delivered(self, delivered: Sequence[Delivered]) -> None:
        raise NotImplementedError

    async def record_unpublished(self, letter: DeadLetter, error: str) -> None:
        """Note that a logged dead letter could not be published (the broker refused it)."""
        raise NotImplementedError


class CaseSink(Protocol):
    """The Temporal side (``case_signals.CaseSignaller`` in production)."""

    async def deliver(self, signals: Sequence[CaseSignal]) -> DeliveryReport:
        raise NotImplementedError


class TransientFailure(RuntimeError):
    """A step kept failing for the whole retry window; the batch must be read again."""


class PermanentFailure(RuntimeError):
    """A step failed for what it was given; retrying it cannot help."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"{step} failed for good: {type(cause).__name__}")
        self.cause = cause


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, bounded by a retry window.

    The window stays well below the consumer's ``max_poll_interval_ms`` (5 min by default) so a
    long outage does not get this consumer thrown out of its group: after the window the batch
    is rewound and polled again, and the retries go on.
    """

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 5.0
    window: float = 60.0

    def delays(self) -> Callable[[], float | None]:
        """A fresh schedule: each call gives the next sleep, or None once the window is over."""
        deadline = time.monotonic() + self.window
        delay = self.initial

        def next_delay() -> float | None:
            nonlocal delay
            now = time.monotonic()
            if now >= deadline:
                return None
            chosen = min(delay, self.maximum, deadline - now) * random.uniform(0.8, 1.0)
            delay = min(delay * self.factor, self.maximum)
            return chosen

        return next_delay


@dataclass(frozen=True, slots=True)
class Parsed:
    events: list[InboundEvent]
    deadletters: list[DeadLetter]
    repeated: int
    """Records dropped because an earlier record of the batch had the same (source, id)."""
    sources: Sequence[RawRecord] = ()
    """The record each event came from (same order as ``events``), for a late dead letter."""


def validate_batch(
    records: Sequence[RawRecord],
    topic_prefix: str = "",
    seen: set[str] | None = None,
    max_bytes: int | None = None,
) -> Parsed:
    """Step 1: typed events (first occurrence of each event id) and dead letters.

    ``topic_prefix`` (tests, benchmark) is removed from a record's topic before the contract's
    topic check. ``seen`` holds the idempotency keys of earlier chunks of the same batch (it is
    updated). A message over ``max_bytes`` is dead-lettered unread.
    """
    events: list[InboundEvent] = []
    sources: list[RawRecord] = []
    deadletters: list[DeadLetter] = []
    seen = set() if seen is None else seen
    repeated = 0
    for record in records:
        value = record.value or b""
        if max_bytes is not None and len(value) > max_bytes:
            deadletters.append(DeadLetter.too_large(record, max_bytes))
            continue
        try:
            event = parse_inbound(value, record.topic.removeprefix(topic_prefix))
        except InvalidEvent as error:
            deadletters.append(DeadLetter.of(record, error))
            continue
        key = event.idempotency_key
        if key in seen:
            repeated += 1
            continue
        seen.add(key)
        events.append(event)
        sources.append(record)
    return Parsed(events, deadletters, repeated, sources)


@dataclass(frozen=True, slots=True)
class BatchReport:
    records: int
    stored: int
    """Events appended by this batch (not counting ones already stored)."""
    duplicates: int
    """Records whose event was already stored, or repeated within the batch."""
    deadlettered: int
    delivered: int
    no_open_case: int


class BatchProcessor:
    """Runs the steps of the module docstring for one batch at a time."""

    def __init__(
        self,
        store: IngestStore,
        cases: CaseSink,
        publish_deadletter: DeadLetterPublisher,
        *,
        backoff: Backoff | None = None,
        topic_prefix: str = "",
        chunk: int = CHUNK,
        max_message_bytes: int | None = None,
    ) -> None:
        self._store = store
        self._max_bytes = max_message_bytes
        self._chunk = chunk
        self._topic_prefix = topic_prefix
        self._cases = cases
        self._publish_deadletter = publish_deadletter
        self._backoff = backoff or Backoff()

    async def process(self, records: Sequence[RawRecord]) -> BatchReport:
        chunks: list[Parsed] = []
        try:
            stored = await self._retrying(
                "store", lambda: self._store.store(self._validated(records, chunks))
            )
        except PermanentFailure as failure:
            stored, chunks = await self._store_each(chunks, failure)
        deadletters = [letter for chunk in chunks for letter in chunk.deadletters]
        for letter in deadletters:
            log.warning(
                "deadlettered",
                kind=letter.kind,
                reason=letter.reason,
                source_topic=letter.record.topic,
                source_partition=letter.record.partition,
                source_offset=letter.record.offset,
                event_type=letter.event_type,
            )
            try:
                await self._retrying("dead-letter publish", partial(self._send_deadletter, letter))
            except PermanentFailure as failure:
                error = f"{type(failure.cause).__name__}: {failure.cause}"
                log.error("dead letter not publishable; recorded, skipped", error=error[:300])
                await self._retrying(
                    "record unpublished", partial(self._store.record_unpublished, letter, error)
                )
        signals = [
            CaseSignal(trigger, may_open=s.event.case_effect is CaseEffect.OPENS)
            for s in stored
            if not s.delivered and (trigger := trigger_for(s.event, s.household_key)) is not None
        ]
        delivered = await self._deliver(signals)
        return BatchReport(
            records=len(records),
            stored=sum(1 for s in stored if s.new),
            duplicates=sum(c.repeated for c in chunks) + sum(1 for s in stored if not s.new),
            deadlettered=len(deadletters),
            delivered=sum(1 for d in delivered if d.outcome is Outcome.DELIVERED),
            no_open_case=sum(1 for d in delivered if d.outcome is Outcome.NO_OPEN_CASE),
        )

    def _validated(self, records: Sequence[RawRecord], into: list[Parsed]) -> Iterator[Parsed]:
        """Step 1, a chunk at a time as the store asks for it; ``into`` collects the chunks
        (cleared first: a retried store step validates again)."""
        into.clear()
        seen: set[str] = set()
        for start in range(0, len(records), self._chunk):
            chunk = validate_batch(
                records[start : start + self._chunk], self._topic_prefix, seen, self._max_bytes
            )
            into.append(chunk)
            yield chunk

    async def _store_each(
        self, chunks: list[Parsed], failure: PermanentFailure
    ) -> tuple[list[Stored], list[Parsed]]:
        """The store step after a permanent failure: each event alone, in order (so each
        household's stay in order), the ones the database refuses dead-lettered; then the dead
        letters. Returns what :meth:`IngestStore.store` would have, and the chunks' dead letters
        with the new ones."""
        log.error(
            "a batch could not be stored; storing its events one at a time",
            error=type(failure.cause).__name__,
        )
        stored: list[Stored] = []
        letters = [letter for chunk in chunks for letter in chunk.deadletters]
        for chunk in chunks:
            for event, record in zip(chunk.events, chunk.sources, strict=True):
                alone = Parsed([event], [], 0, [record])
                try:
                    stored.extend(
                        await self._retrying("store", partial(self._store.store, [alone]))
                    )
                except PermanentFailure as refused:
                    letters.append(DeadLetter.unstorable(record, event, refused.cause))
        for letter in letters:
            try:
                await self._retrying("store", partial(self._store.store, [Parsed([], [letter], 0)]))
            except PermanentFailure as refused:  # published all the same, just not counted
                log.error("dead letter not logged", error=type(refused.cause).__name__)
        return stored, [Parsed([], letters, sum(c.repeated for c in chunks))]

    async def _deliver(self, signals: list[CaseSignal]) -> list[Delivered]:
        """Steps 4 and 5, retrying only the households that failed."""
        done: list[Delivered] = []
        pending = signals
        next_delay = self._backoff.delays()
        while pending:
            report = await self._cases.deliver(pending)
            if report.delivered:
                await self._retrying("record deliveries", partial(self._mark, report.delivered))
                done.extend(report.delivered)
            if not report.failures:
                break
            sent = {d.event_id for d in report.delivered}
            pending = [s for s in pending if s.trigger.event_id not in sent]
            await self._wait(next_delay, "case delivery", report.failures[0])
        return done

    async def _send_deadletter(self, letter: DeadLetter) -> None:
        await self._publish_deadletter(
            letter.record.value or b"", letter.record.key, letter.headers()
        )

    async def _mark(self, delivered: Sequence[Delivered]) -> None:
        await self._store.mark_delivered(delivered)

    async def _retrying(self, step: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt`` until it succeeds, retrying transient failures for the retry window;
        a permanent one raises :class:`PermanentFailure` at once."""
        next_delay = self._backoff.delays()
        while True:
            try:
                return await attempt()
            except Exception as exc:
                if is_permanent(exc):
                    raise PermanentFailure(step, exc) from exc
                await self._wait(next_delay, step, exc)

    @staticmethod
    async def _wait(next_delay: Callable[[], float | None], step: str, exc: BaseException) -> None:
        delay = next_delay()
        if delay is None:
            log.error("ingest step still failing; the batch will be read again", step=step)
            raise TransientFailure(f"{step} kept failing: {exc!r}") from exc
        log.warning(
            "ingest step failed; retrying (not bad input: nothing is dead-lettered)",
            step=step,
            error=repr(exc)[:500],
            retry_in=round(delay, 2),
        )
        await asyncio.sleep(delay)

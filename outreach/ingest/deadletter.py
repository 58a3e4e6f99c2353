"""Dead-lettering: inbound messages that break the contract, published and logged."""

# Bad input (retrying cannot fix it) goes to the dead-letter topic with its original bytes and
# key, and headers saying why; the partition moves on. A failing database or Temporal is not
# bad input and never lands here (see ``ingest.pipeline``). Each dead letter is also written to
# ``deadletter_log``, without its content, in the same transaction as the batch's events; the
# read side (counts for ops) is ``outreach.cases.deadletters``.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

# the read side, re-exported for callers that still import it from here (outreach.demo)
from outreach.cases.deadletters import deadlettered_by_kind, deadlettered_count
from outreach.events import InboundEvent, InvalidEvent
from outreach.events.limits import printable
from outreach.events.topics import ERROR_HEADER, SOURCE_TOPIC_HEADER
from outreach.store.database import Conn

__all__ = [
    "DeadLetter",
    "DeadLetterPublisher",
    "RawRecord",
    "deadlettered_by_kind",
    "deadlettered_count",
    "log_deadletters",
    "record_unpublished",
]

MAX_REASON = 1000
"""Header values stay readable and small; reasons are short anyway."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One Kafka record as ingest sees it (independent of the client library)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that broke the contract, and why."""

    record: RawRecord
    reason: str
    kind: str
    event_type: str | None = None
    event_source: str | None = None
    event_id: str | None = None

    @classmethod
    def of(cls, record: RawRecord, error: InvalidEvent) -> DeadLetter:
        # printable: what the message claimed goes to text columns and headers
        return cls(
            record=record,
            reason=printable(error.reason, MAX_REASON),
            kind=error.kind,
            event_type=_claimed(error.event_type),
            event_source=_claimed(error.source),
            event_id=_claimed(error.event_id),
        )

    @classmethod
    def too_large(cls, record: RawRecord, limit: int) -> DeadLetter:
        size = len(record.value or b"")
        return cls(
            record=record,
            reason=f"the message is {size:,} bytes; the limit is {limit:,} bytes",
            kind="size",
        )

    @classmethod
    def unstorable(cls, record: RawRecord, event: InboundEvent, exc: BaseException) -> DeadLetter:
        """A valid event the database refused for what it holds (the edge's bounds should
        have caught it: ops should report it). The database's message is not echoed: it may
        quote the value."""
        code = getattr(exc, "sqlstate", None)
        why = type(exc).__name__ + (f", SQLSTATE {code}" if code else "")
        return cls(
            record=record,
            reason=f"the event is valid but could not be stored ({why})",
            kind="unstorable",
            event_type=event.type,
            event_source=event.source,
            event_id=event.id,
        )

    def headers(self) -> dict[str, str]:
        """Headers of the dead-letter message: the contract's two, then provenance."""
        record = self.record
        headers = {
            ERROR_HEADER: self.reason,
            SOURCE_TOPIC_HEADER: record.topic,
            "source-partition": str(record.partition),
            "source-offset": str(record.offset),
            "source-timestamp": str(record.timestamp),
            "error-kind": self.kind,
        }
        optional = {
            "event-type": self.event_type,
            "event-source": self.event_source,
            "event-id": self.event_id,
        }
        headers.update({k: v for k, v in optional.items() if v})
        return headers


class DeadLetterPublisher(Protocol):
    """Sends one dead letter to the dead-letter topic and returns once the broker has it."""

    async def __call__(self, value: bytes, key: bytes | None, headers: Mapping[str, str]) -> None:
        raise NotImplementedError


async def log_deadletters(conn: Conn, letters: Sequence[DeadLetter]) -> None:
    """Record dead letters (idempotent per Kafka record); call inside the batch's transaction."""
    if not letters:
        return
    await conn.executemany(
        """
        INSERT INTO deadletter_log (source_topic, source_partition, source_offset,
                                    source_timestamp, kind, reason, event_type, event_source,
                                    event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT ON CONSTRAINT deadletter_log_record DO NOTHING
        """,
        [
            (
                d.record.topic,
                d.record.partition,
                d.record.offset,
                d.record.timestamp,
                d.kind,
                d.reason,
                d.event_type,
                d.event_source,
                d.event_id,
            )
            for d in letters
        ],
    )


async def record_unpublished(conn: Conn, letter: DeadLetter, error: str) -> None:
    """Note that ``letter`` could not be published (it stays counted and listed)."""
    record = letter.record
    await conn.execute(
        """
        UPDATE deadletter_log SET publish_error = $5
        WHERE source_topic = $1 AND source_partition = $2 AND source_offset = $3
          AND source_timestamp = $4
        """,
        record.topic,
        record.partition,
        record.offset,
        record.timestamp,
        printable(error, MAX_REASON),
    )


def _claimed(value: str | None) -> str | None:
    return printable(value) if value is not None else None

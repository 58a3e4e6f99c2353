"""Appends made ready for their statements: input checks, columns (encrypted), and outcomes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

import asyncpg
from pydantic_core import to_json

from outreach.infra.log import get_logger
from outreach.store.json_codec import dumps, plain_dumps
from outreach.store.personal_data import PERSONAL, DataKey, encrypt_personal, nonces
from outreach.store.records import (
    AppendResult,
    ConcurrencyConflict,
    DuplicateEventError,
    EventStoreError,
    NewEvent,
    OutboxMessage,
    StreamAppend,
)

MAX_BATCH: Final = 65_536
APPEND = "SELECT * FROM outreach_append(" + ", ".join(f"${i}" for i in range(1, 15)) + ")"
APPEND_MANY = "SELECT * FROM outreach_append_many(" + ", ".join(f"${i}" for i in range(1, 10)) + ")"
APPEND_NEW = "SELECT * FROM outreach_append_new(" + ", ".join(f"${i}" for i in range(1, 9)) + ")"

log = get_logger("outreach.store.event_store")  # logs as the event store, as before the split


def validate(
    stream: str,
    events: Sequence[NewEvent],
    expected: int | None,
    outbox: Sequence[OutboxMessage],
) -> None:
    _validate_stream(stream, events, expected)
    if len(outbox) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} events and outbox messages per append")
    if len({e.event_id for e in events}) != len(events):
        raise ValueError("the same event id appears twice in one batch")


def _validate_stream(stream: str, events: Sequence[NewEvent], expected: int | None) -> None:
    if not stream:
        raise ValueError("stream must not be empty")
    if not events:
        raise ValueError("append needs at least one event")
    if len(events) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} events and outbox messages per append")
    if expected is not None and expected < 0:
        raise ValueError("expected_version is None (any), 0 (new stream) or a stream version")
    for e in events:
        if e.occurred_at.tzinfo is None:
            raise ValueError(f"occurred_at of event {e.event_id} must be timezone-aware")


def validate_many(appends: Sequence[StreamAppend]) -> None:
    if len({a.stream for a in appends}) != len(appends):
        raise ValueError("each stream may appear once in append_many")
    ids: set[uuid.UUID] = set()
    total = 0
    for a in appends:
        _validate_stream(a.stream, a.events, a.expected_version)
        ids.update(e.event_id for e in a.events)
        total += len(a.events)
    if total > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} events per append_many")
    if len(ids) != total:
        raise ValueError("the same event id appears twice in one append_many")


def personal_streams(appends: Sequence[StreamAppend]) -> list[str]:
    """The streams with an event that has personal fields (they need a data key)."""
    return [a.stream for a in appends if any(e.data.get(PERSONAL) for e in a.events)]


def many_arrays(
    appends: Sequence[StreamAppend], keys: Mapping[str, DataKey]
) -> tuple[list[Any], ...]:
    streams: list[str] = []
    expected: list[int | None] = []
    key_ids: list[uuid.UUID | None] = []
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
    fresh = nonces(sum(len(a.events) for a in appends if a.stream in keys))
    for a in appends:
        key = keys.get(a.stream)
        n = len(a.events)
        streams += [a.stream] * n
        expected += [a.expected_version] * n
        key_ids += [key.key_id if key else None] * n
        arrays = event_arrays(a.stream, a.events, key, fresh)
        for column, values in zip(columns, arrays, strict=True):
            column.extend(values)
    return (streams, expected, key_ids, *columns)


def many_results(
    appends: Sequence[StreamAppend], rows: Sequence[asyncpg.Record]
) -> list[AppendResult]:
    by_stream: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        by_stream.setdefault(row["stream"], []).append(row)
    results: list[AppendResult] = []
    for a in appends:
        mine = by_stream.get(a.stream, [])
        if len(mine) != len(a.events):
            raise EventStoreError(
                f"append_many returned {len(mine)} rows for {len(a.events)} events of a stream"
            )
        if mine[0]["outcome"] == "duplicate":
            results.append(duplicate_result(a.stream, a.events, mine))
        else:
            results.append(
                AppendResult(a.stream, mine[-1]["version"], tuple(r["position"] for r in mine))
            )
    return results


def lost_race(
    exc: asyncpg.UniqueViolationError, appends: Sequence[StreamAppend]
) -> DuplicateEventError | ConcurrencyConflict:
    """What a unique violation inside the caller's transaction means (it must retry whole)."""
    if exc.constraint_name == "events_event_id_key":
        return DuplicateEventError(
            "an event of this batch was stored meanwhile by another transaction"
        )
    detail = str(getattr(exc, "detail", "") or "")
    stream = next((a.stream for a in appends if a.stream in detail), appends[0].stream)
    return ConcurrencyConflict(stream, None, None)


def event_arrays(
    stream: str,
    events: Sequence[NewEvent],
    key: DataKey | None,
    fresh: list[bytes] | None = None,
) -> tuple[list[Any], ...]:
    """The statement's columns for one stream's events; ``fresh`` supplies nonces (popped)."""
    data: list[str] = []
    metadata: list[str] = []
    for e in events:
        encode = plain_dumps if e.plain_json else dumps
        body = e.data
        personal = body.get(PERSONAL)
        if personal:
            assert key is not None
            body = dict(body)
            body[PERSONAL] = encrypt_personal(
                key,
                stream,
                e.event_id,
                personal,
                plaintext=to_json(personal) if e.plain_json else None,
                nonce=fresh.pop() if fresh else None,
            )
        elif PERSONAL in body:  # an empty personal member is not stored
            body = {k: v for k, v in body.items() if k != PERSONAL}
        data.append(encode(body))
        metadata.append(encode(e.metadata()))
    return (
        [e.event_id for e in events],
        [e.type for e in events],
        [e.schema_version for e in events],
        data,
        metadata,
        [e.occurred_at for e in events],
    )


def duplicate_result(
    stream: str, events: Sequence[NewEvent], rows: Sequence[asyncpg.Record]
) -> AppendResult:
    if len(rows) != len(events):
        raise DuplicateEventError(
            f"{len(rows)} of the {len(events)} event ids are stored already: "
            "append either a batch that was stored whole, or only new events"
        )
    by_id = {r["event_id"]: r for r in rows}
    ordered = [by_id[e.event_id] for e in events]
    log.info("append was stored already; nothing written", household=stream, events=len(rows))
    return AppendResult(
        stream,
        max(r["version"] for r in ordered),
        tuple(r["position"] for r in ordered),
        duplicate=True,
    )

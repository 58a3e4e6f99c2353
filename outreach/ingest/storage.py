"""Ingest's database side: agency events into the event store, one transaction per batch.

* **Stream**: the household's pseudonymous key (``EventStore.stream_key``: HMAC of the
  household id), never the id itself. Logs and Temporal see only that key.
* **Event id**: ``uuid5((source, id))`` (:func:`outreach.events.event_uuid`), so the same agency
  event always has the same id and the store's idempotency makes a redelivery a no-op.
* **Personal fields** (:data:`PERSONAL_PATHS`: the person, member lists, the household id, the
  certificate number, which embeds the ID number, the diagnosis, a fact's free-text detail) are
  moved under ``data["personal"]``, which the store encrypts with the household's data key;
  everything screening and the projections need stays in clear.
* **One transaction per batch**, written in chunks: each chunk's events go to
  ``EventStore.append_new`` (``expected_version`` = any: agency events have no
  read-decide-write cycle), which appends the events not stored yet, each household's in batch
  order, and skips (and reports) the ones stored before, e.g. when a batch is read again after
  a crash; for those only, whether they reached their case is read from ``ingest_deliveries``.
  The batch's dead letters are logged in the same transaction. The event store pulls chunk k+1
  (which validates it) while the database writes chunk k. A concurrent writer on the same stream
  (or a second ingest storing the same event) aborts the transaction; the pipeline retries the
  whole batch, which is safe because nothing of it committed.
* **Why not one** ``EventStore.append`` **per household**: a batch touches hundreds of
  households, and one round trip each (two more for a new household's data key) made the
  database the bottleneck (about 1,000 events/s). A chunk is one set-based statement
  (``outreach_append_new``, migration 0031) that returns nothing in the common case; data keys
  come from the store's cache, or two statements for the chunk's new households.

Facts events reach the ``household_facts`` projection through the projection subscription
(``outreach projections run``), which follows the store; ingest does not write projections.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from outreach.events import InboundEvent
from outreach.events.registry import spec_for
from outreach.ingest.case_signals import Delivered
from outreach.ingest.deadletter import DeadLetter, log_deadletters, record_unpublished
from outreach.ingest.pipeline import Parsed, Stored
from outreach.store.event_store import (
    ANY_VERSION,
    CHANNEL,
    ConcurrencyConflict,
    DuplicateEventError,
    EventStore,
    NewEvent,
    StreamAppend,
)
from outreach.store.personal_data import move_personal

__all__ = ["PERSONAL_PATHS", "AppendRace", "EventStoreIngest", "new_event_for"]

_IDENTITY: Final = ("person", "household.household_id")

PERSONAL_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "disability.certificate.issued": (*_IDENTITY, "certificate.number"),
    "disability.certificate.expiring": (*_IDENTITY, "certificate.number"),
    "medical.settlement.recorded": (*_IDENTITY, "settlement.diagnosis"),
    "monitoring.household.listed": ("household.household_id", "members"),
    "facts.household.reported": (*_IDENTITY, "fact.detail"),
}
"""Dotted paths in ``data`` stored encrypted, per inbound type (unknown types: identity)."""


def new_event_for(event: InboundEvent, event_id: uuid.UUID | None = None) -> NewEvent:
    """The event-store form of an agency event.

    ``data`` is the CloudEvent's ``data`` (JSON form, extra fields kept) with personal fields
    moved under ``"personal"``; the envelope goes to metadata (``source`` as the store's source,
    the agency's ``id`` as ``cloudevent_id``, extension attributes under ``extensions``).
    ``event_id``, when the caller has it, saves recomputing ``event.event_uuid``.
    """
    data = event.data.model_dump(mode="json", exclude_unset=True)
    paths = PERSONAL_PATHS.get(event.type, _IDENTITY)
    spec = spec_for(event.type)
    extra: dict[str, Any] = {"cloudevent_id": event.id, "specversion": event.specversion}
    for name in ("datacontenttype", "dataschema", "subject"):
        value = getattr(event, name)
        if value is not None:
            extra[name] = value
    extensions = event.extensions
    if extensions:
        extra["extensions"] = extensions
    return NewEvent(
        event_id=event_id or event.event_uuid,
        type=event.type,
        data=move_personal(data, paths),
        occurred_at=event.time,
        schema_version=spec.version if spec is not None else 1,
        source=event.source,
        extra_metadata=extra,
        # data is model_dump(mode="json") and the envelope strings; extension values are as
        # parsed from JSON, but an event built in code may carry any value there
        plain_json=not extensions,
    )


class AppendRace(RuntimeError):
    """Another writer got in first (same stream or same event); retry the whole batch."""


_NOTIFY: Final = f"BEGIN; SET LOCAL synchronous_commit = off; NOTIFY {CHANNEL}; COMMIT"
"""Wakes subscriptions after a committed batch, the way ``EventStore.append`` does."""


class EventStoreIngest:
    """:class:`~outreach.ingest.pipeline.IngestStore` on the event store."""

    def __init__(self, store: EventStore, *, notify: bool = True) -> None:
        self._store = store
        self._notify = notify

    def household_key(self, event: InboundEvent) -> str:
        return self._store.stream_key(event.household_id)

    async def store(self, chunks: Iterable[Parsed]) -> list[Stored]:
        order: list[tuple[InboundEvent, str, uuid.UUID]] = []
        deadletters: list[DeadLetter] = []

        def appends() -> Iterator[list[StreamAppend]]:
            """Each chunk's events as stream appends; pulling a chunk validates it, which the
            event store does while the database writes the previous chunk."""
            for chunk in chunks:
                deadletters.extend(chunk.deadletters)
                streams: dict[str, list[NewEvent]] = {}
                for event in chunk.events:
                    key = self.household_key(event)
                    event_id = event.event_uuid  # uuid5 is not free: computed once here
                    order.append((event, key, event_id))
                    streams.setdefault(key, []).append(new_event_for(event, event_id))
                yield [StreamAppend(s, ev, ANY_VERSION) for s, ev in streams.items()]

        async with self._store.pool.acquire() as conn:
            async with conn.transaction():
                try:
                    result = await self._store.append_new(appends(), conn=conn)
                except (ConcurrencyConflict, DuplicateEventError) as exc:
                    raise AppendRace(f"a concurrent append won: {exc}") from exc
                delivered: set[uuid.UUID] = set()
                if result.stored_already:  # read again after a crash or a rewind
                    rows = await conn.fetch(_DELIVERED, list(result.stored_already))
                    delivered = {r["event_id"] for r in rows}
                await log_deadletters(conn, deadletters)
            if result.appended and self._notify:
                await conn.execute(_NOTIFY)
        return [
            Stored(
                event=event,
                household_key=key,
                new=event_id not in result.stored_already,
                delivered=event_id in delivered,
            )
            for event, key, event_id in order
        ]

    async def store_events(self, events: Sequence[InboundEvent]) -> list[Stored]:
        """:meth:`store` of already validated events (tools and tests)."""
        return await self.store([Parsed(list(events), [], 0)])

    async def record_unpublished(self, letter: DeadLetter, error: str) -> None:
        async with self._store.pool.acquire() as conn:
            await record_unpublished(conn, letter, error)

    async def mark_delivered(self, delivered: Sequence[Delivered]) -> None:
        if not delivered:
            return
        async with self._store.pool.acquire() as conn:
            await conn.execute(
                _MARK_DELIVERED,
                [uuid.UUID(d.event_id) for d in delivered],
                [d.workflow_id for d in delivered],
                [d.outcome.value for d in delivered],
            )


_DELIVERED: Final = "SELECT event_id FROM ingest_deliveries WHERE event_id = ANY($1::uuid[])"
"""Which of a batch's events stored before had reached their case (or found none open)."""

_MARK_DELIVERED: Final = """
    INSERT INTO ingest_deliveries (event_id, workflow_id, outcome)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])
    ON CONFLICT (event_id) DO NOTHING
"""
"""A batch's deliveries in one statement (an event id appears once: a batch stores each once)."""

"""The event store's record types: events to append, events read, append results and errors."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from outreach.store.personal_data import PERSONAL, DataKeys, is_shredded

ANY_VERSION: Final = None
NO_STREAM: Final = 0


class EventStoreError(Exception):
    pass


class ConcurrencyConflict(EventStoreError):
    """The stream is not at the expected version; nothing was written."""

    def __init__(self, stream: str, expected: int | None, actual: int | None) -> None:
        super().__init__(
            f"stream {stream[:16]}... is at version {actual if actual is not None else '?'}, "
            f"expected {expected}: nothing written (reload the stream and decide again)"
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class DuplicateEventError(EventStoreError):
    """Some, not all, of a batch's event ids are stored already."""


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``event_id`` must be stable across retries (idempotency key).

    ``data`` is a JSON object; its ``"personal"`` member, if any, is stored encrypted.
    ``occurred_at`` is when it happened at the source (timezone-aware); ``recorded_at`` is set
    by the store. ``causation_id`` is the id of the event or command that caused this one,
    ``correlation_id`` ties a whole conversation together (e.g. the case id), ``source`` is who
    said it (the agency's CloudEvents source, or ``/outreach``).
    """

    event_id: uuid.UUID
    type: str
    data: Mapping[str, Any]
    occurred_at: datetime
    schema_version: int = 1
    causation_id: str | None = None
    correlation_id: str | None = None
    source: str | None = None
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)
    plain_json: bool = False
    """True when ``data`` and ``extra_metadata`` hold plain JSON values only (str, int, float,
    bool, None, lists, dicts with str keys; e.g. ``model_dump(mode="json")``): they are then
    encoded by pydantic-core's serializer, several times faster than :func:`dumps` and the
    same JSON for such values. Leave False for data with dates, decimals or UUIDs."""

    def metadata(self) -> dict[str, Any]:
        meta = {
            "causation_id": self.causation_id,
            "correlation_id": self.correlation_id,
            "source": self.source,
        }
        return {**self.extra_metadata, **{k: v for k, v in meta.items() if v is not None}}


@dataclass(frozen=True)
class OutboxMessage:
    """A Kafka message recorded with the events and published later by the relay.

    ``payload`` is the CloudEvent (e.g. from ``outreach.events.outbound.outbound_envelope``);
    ``message_id`` is its ``id``, stable across retries. ``key`` defaults to the stream key, so
    one household's messages stay in one partition, in order. The :data:`OUTBOX_PERSONAL`
    fields of its ``data`` are stored encrypted with the household's data key.
    """

    topic: str
    message_id: str
    payload: Mapping[str, Any]
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamAppend:
    """One stream's part of :meth:`EventStore.append_many` (same meaning as ``append``'s)."""

    stream: str
    events: Sequence[NewEvent]
    expected_version: int | None = ANY_VERSION


@dataclass(frozen=True, slots=True)
class SealedPersonal:
    """An event's ``personal`` member as stored (encrypted), read with the household's data key
    as it was at that read (``key_id`` None: none, i.e. shredded), and the keys to open it."""

    stored: object
    key_id: uuid.UUID | None
    wrapped_key: bytes | None
    keys: DataKeys = field(repr=False, compare=False)

    def open(self, stream: str, event_id: uuid.UUID) -> dict[str, Any]:
        """The member in clear, or :data:`~outreach.store.personal_data.SHREDDED`."""
        return self.keys.decrypt(stream, event_id, self.stored, self.key_id, self.wrapped_key)


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    event_id: uuid.UUID
    stream: str
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    """As appended, with ``personal`` decrypted (or ``{"shredded": true}``); read with
    ``decrypt=False``, without ``personal`` (see :attr:`sealed`)."""
    metadata: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    sealed: SealedPersonal | None = field(default=None, repr=False, compare=False)
    """Read with ``decrypt=False``: the ``personal`` member, still encrypted, kept out of
    ``data``; :meth:`decrypted` (or :attr:`personal`) opens it. None otherwise."""

    @property
    def personal(self) -> dict[str, Any] | None:
        value = self.data.get(PERSONAL) if self.sealed is None else self._open()
        return value if isinstance(value, dict) and not is_shredded(value) else None

    @property
    def shredded(self) -> bool:
        return is_shredded(self.data.get(PERSONAL) if self.sealed is None else self._open())

    def decrypted(self) -> RecordedEvent:
        """This event with ``personal`` in ``data``, decrypted: itself unless it is sealed."""
        if self.sealed is None:
            return self
        return replace(self, data={**self.data, PERSONAL: self._open()}, sealed=None)

    def _open(self) -> dict[str, Any] | None:
        return None if self.sealed is None else self.sealed.open(self.stream, self.event_id)

    @property
    def causation_id(self) -> str | None:
        return self.metadata.get("causation_id")

    @property
    def correlation_id(self) -> str | None:
        return self.metadata.get("correlation_id")

    @property
    def source(self) -> str | None:
        return self.metadata.get("source")


@dataclass(frozen=True)
class AppendResult:
    stream: str
    version: int
    """The stream's version after the last event of the batch."""
    positions: tuple[int, ...]
    duplicate: bool = False
    """True when the events were stored already: nothing was written."""

    @property
    def position(self) -> int:
        return self.positions[-1]


@dataclass(frozen=True)
class AppendNewResult:
    """What :meth:`EventStore.append_new` did."""

    appended: int
    """Events written now."""
    stored_already: frozenset[uuid.UUID]
    """Ids of the events skipped because they were stored before (nothing written for them)."""


@dataclass(frozen=True)
class Page:
    events: list[RecordedEvent]
    """The events read, in order (with ``types``: only those of the wanted types)."""
    held_back: bool
    """Committed events exist beyond the horizon: an older transaction is still open."""
    read: int = -1
    """Rows read, wanted or not (-1: ``len(events)``); ``limit`` of them means a full page."""
    last_position: int | None = None
    """Position of the last row read, wanted or not (None: the last event's, if any)."""
    wanted: int = -1
    """Events of the wanted types in the page, counted by :meth:`EventStore.read_span` (which
    sends none of them); -1 from :meth:`EventStore.read_page` (they are in ``events``)."""

    @property
    def count(self) -> int:
        """Events read, whatever their type (a subscription's checkpoint moves past them all)."""
        return self.read if self.read >= 0 else len(self.events)

    @property
    def end(self) -> int | None:
        """The position to resume after (None when nothing was read)."""
        if self.last_position is not None:
            return self.last_position
        return self.events[-1].position if self.events else None

"""The event store: the only code that writes the ``events`` table (DESIGN.md, "Data flow").

Streams are households (``store.stream_key(household_id)``, an HMAC, never the raw id). Every
event is appended once, in order per stream (``version`` 1, 2, 3 ...), with a global
``position`` that followers (projections, subscriptions) read in increasing order.

Appending
    ``append(stream, events, expected_version, outbox=[...])`` writes a batch in one statement
    (one round trip, one transaction), together with the outbound messages it causes.

    * ``expected_version``: ``None`` (:data:`ANY_VERSION`) appends at the end whatever the
      stream's version (a concurrent append is retried transparently); ``0``
      (:data:`NO_STREAM`) requires a new stream; ``n > 0`` requires the stream to be at exactly
      version ``n``. Anything else raises :class:`ConcurrencyConflict` and writes nothing.
    * Idempotency by event id: if the batch's ids are already stored, nothing is written and the
      result (``duplicate=True``) reports the stored positions and versions. This check comes
      before the version check, so a retried append whose first attempt succeeded is a no-op,
      not a conflict. A batch mixing stored and new ids is a caller bug
      (:class:`DuplicateEventError`).
    * ``data["personal"]``, when present, is encrypted with the household's data key
      (:mod:`outreach.store.personal_data`), and so are an outbox message's personal fields
      (:data:`OUTBOX_PERSONAL`, moved under its ``data["personal"]``): the relay opens them
      when it publishes (:func:`open_outbound`), and once the household is shredded it
      publishes the message without them.

Appending to many streams at once
    ``append_many([StreamAppend(stream, events, expected_version), ...])`` does what one
    ``append`` per stream inside one transaction would do, in one statement (the set-based
    ``outreach_append_many``, migration 0003): data keys fetched or created for all streams in
    two statements, each stream's versions continued in order, positions as below. All or
    nothing: a version conflict on any stream raises :class:`ConcurrencyConflict` and writes
    nothing; a stream whose events are all stored already is reported ``duplicate=True`` (and
    not written), per stream. No outbox messages (use ``append`` for those).

Appending only what is new
    ``append_new([...], conn=conn)`` (``outreach_append_new``, migration 0031) is idempotent per
    event rather than per stream: it appends the events whose ids are not stored yet, at any
    version, skips the others and reports their ids. That is what a feed needs (a batch read
    again after a crash may hold an old and a new event of one household), and the common case
    costs one statement that returns no rows. Ingest stores each Kafka batch with it, in chunks,
    all in one transaction.

Global position, and why followers never skip an event
    A ``bigserial`` would not do: a transaction that drew position 5 may commit after another
    that drew 6, and a follower that read 6 in between would never look back for 5. Taking a
    lock around "draw a number, commit" fixes that but serialises every commit, fsync included.

    Instead, the position is derived from the writing transaction's id:
    ``position = (pg_current_xact_id() << 16) + index within the transaction``. Transaction ids
    are handed out in increasing order, so positions are unique and ordered by transaction id
    by construction (no lock, no shared counter). A follower reads only
    ``position < pg_snapshot_xmin(pg_current_snapshot()) << 16`` (:data:`HORIZON_SQL`), in the
    same statement as its query: every transaction with a smaller id has ended, so any event
    below that line is visible now or never will exist. An event that commits later belongs to
    a transaction with an id at or above the horizon, i.e. a position above everything already
    delivered. Positions are therefore sparse (gaps between transactions) but a reader that has
    seen position N never later finds a committed event below N.

    A follower of a few event types (a projection) reads with ``read_page(..., types=...)``:
    the page covers the same positions, but only the wanted events are sent and decoded. One
    that needs few personal members reads with ``decrypt=False`` and opens only those
    (:meth:`RecordedEvent.decrypted`). One that works on its events in the database itself
    reads only how far the page reaches (``read_span``) and then the positions up to there.

    Order is transaction-id order, not commit order: events of a transaction that started
    writing earlier but commits later are delivered first, once it has committed. Because
    positions follow transaction ids by construction, the usual ``(transaction id, position)``
    checkpoint pair collapses into the position alone.

    The cost: a follower waits for every older transaction that has a transaction id (any write
    transaction in the cluster) to end before it passes that point. Write transactions here are
    short; a long one (a projection rebuild, a manual ``BEGIN`` left open) delays followers, it
    never makes them skip. Appends do not wait for each other, so concurrent commits share
    fsyncs (``bench/event_store.py`` measures it). The 16 low bits allow 65,536 events (and as
    many outbox messages) per transaction and 2**47 transaction ids, centuries at any
    plausible rate.

Wake-ups
    A ``NOTIFY`` inside the append would serialise commits (PostgreSQL holds a global lock from
    the notify queue insert to the end of commit). Instead, after a committed append the store
    sends one coalesced ``NOTIFY outreach_events`` on the side with ``synchronous_commit=off``
    (at most one per 10 ms per process). Subscribers also poll, so a lost notification (or one
    sent before the caller's own transaction committed) costs at most a poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import asyncpg
from pydantic_core import from_json, to_json

from outreach.infra.log import get_logger
from outreach.store.database import Conn
from outreach.store.personal_data import (
    PERSONAL,
    DataKey,
    DataKeys,
    KeyRing,
    encrypt_outbound,
    encrypt_personal,
    is_shredded,
    merge_personal,
    nonces,
    split_personal,
)

__all__ = [
    "ANY_VERSION",
    "CHANNEL",
    "HORIZON_SQL",
    "NO_STREAM",
    "OUTBOX_PERSONAL",
    "OUTBOX_WITHOUT_CLEAR_PERSONAL",
    "AppendNewResult",
    "AppendResult",
    "ConcurrencyConflict",
    "DuplicateEventError",
    "EventStore",
    "EventStoreError",
    "NewEvent",
    "OutboxMessage",
    "Page",
    "RecordedEvent",
    "SealedPersonal",
    "StreamAppend",
    "open_outbound",
]

ANY_VERSION: Final = None
NO_STREAM: Final = 0
CHANNEL: Final = "outreach_events"
"""LISTEN/NOTIFY channel poked after appends (events and outbox messages)."""
HORIZON_SQL: Final = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)"
"""Positions below this (in the same statement) belong to ended transactions only."""
MAX_BATCH: Final = 65_536
OUTBOX_PERSONAL: Final = ("household_id",)
"""Dotted paths in an outbox message's CloudEvent ``data`` that are personal, stored encrypted.
Every outbound type names the household; nothing else they carry is (case ids are uuid5 of an
event id, reasons are generated, decision traces hold the figures the events keep in clear)."""
_CLEAR_PATHS: Final = ["'{data," + p.replace(".", ",") + "}'" for p in OUTBOX_PERSONAL]
_CLEAR_PERSONAL: Final = (
    "(" + " OR ".join(f"payload #> {p} IS NOT NULL" for p in _CLEAR_PATHS) + ")"
)
_STRIPPED: Final = "payload " + " ".join(f"#- {p}" for p in _CLEAR_PATHS)
OUTBOX_WITHOUT_CLEAR_PERSONAL: Final = (
    f"CASE WHEN {_CLEAR_PERSONAL} THEN {_STRIPPED} ELSE payload END"
)
"""SQL: an outbox row's ``payload`` without the personal fields a row written in clear (before
migration 0301) still has; the same value for any other row (so it is not rewritten)."""
_RACE_RETRIES: Final = 20
_NOTIFY_INTERVAL: Final = 0.01

log = get_logger(__name__)


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


_COLUMNS = (
    "e.position, e.event_id, e.stream, e.version, e.type, e.schema_version, e.data, e.metadata,"
    " e.occurred_at, e.recorded_at, k.key_id, k.wrapped_key"
)
_SCAN = f"""
    scan AS MATERIALIZED (
        SELECT e.position, e.position < {HORIZON_SQL} AS settled,
               $3::text[] IS NULL OR e.type = ANY($3::text[]) AS wanted
        FROM events e WHERE e.position > $1 ORDER BY e.position LIMIT $2
    )"""
"""The next ``$2`` positions after ``$1``, each marked settled (below the horizon) and wanted
(of the types ``$3``, or all when NULL): the common part of :data:`_READ_PAGE` and
:data:`_READ_SPAN`."""
_READ_PAGE = f"""
    WITH {_SCAN}, page AS (
        SELECT count(*) FILTER (WHERE settled) AS read,
               max(position) FILTER (WHERE settled) AS last,
               coalesce(bool_or(NOT settled), false) AS held_back
        FROM scan
    )
    SELECT p.read, p.last, p.held_back, {_COLUMNS}
    FROM page p
    LEFT JOIN (scan s JOIN events e ON e.position = s.position AND s.settled AND s.wanted
               LEFT JOIN household_keys k ON k.stream = e.stream) ON true
"""
"""A page in one statement: the first ``$2`` events after ``$1`` (below the horizon, of the
types ``$3``, or all when NULL) in full, and, in every row (one row when none is wanted),
how many events the page covered, the last one's position, and whether committed events wait
above the horizon. Only the wanted ones are sent: a follower of a few types steps over the
others without transferring them.

The scan reads the next ``$2`` positions and marks those below the horizon rather than
stopping there: the horizon is known only when the statement runs, so a range bounded by it
looked tiny to the planner (without statistics, on a new table) and got a bitmap scan of
everything after ``$1`` and a sort, per page. Positions below the horizon are a prefix of the
scan, so the marked rows are exactly the page, and any row above them means one is held back.
The rows come in scan order; the reader checks it rather than sorting here (sorting whole
events would spill a large page to disk)."""
_READ_SPAN = f"""
    WITH {_SCAN}
    SELECT count(*) FILTER (WHERE settled) AS read,
           max(position) FILTER (WHERE settled) AS last,
           coalesce(bool_or(NOT settled), false) AS held_back,
           count(*) FILTER (WHERE settled AND wanted) AS wanted
    FROM scan
"""
""":data:`_READ_PAGE`'s summary row alone, plus how many of the page's events are wanted."""
_READ_POSITIONS = f"""
    SELECT {_COLUMNS} FROM events e LEFT JOIN household_keys k ON k.stream = e.stream
    WHERE e.position = ANY($1::bigint[]) ORDER BY e.position
"""
_READ_STREAM = f"""
    SELECT {_COLUMNS} FROM events e LEFT JOIN household_keys k ON k.stream = e.stream
    WHERE e.stream = $1 AND e.version > $2 ORDER BY e.version
"""
_APPEND = "SELECT * FROM outreach_append(" + ", ".join(f"${i}" for i in range(1, 15)) + ")"
_APPEND_MANY = (
    "SELECT * FROM outreach_append_many(" + ", ".join(f"${i}" for i in range(1, 10)) + ")"
)
_APPEND_NEW = "SELECT * FROM outreach_append_new(" + ", ".join(f"${i}" for i in range(1, 9)) + ")"
_NOTIFY = f"BEGIN; SET LOCAL synchronous_commit = off; NOTIFY {CHANNEL}; COMMIT"


def dumps(value: Any) -> str:
    """JSON for storage: compact, UTF-8, dates/decimals/UUIDs as strings."""
    encoded: str = _ENCODER.encode(value)
    return encoded


def loads(text: str) -> Any:
    """A stored JSON document (``jsonb`` as text) decoded: Rust's parser (pydantic-core), which
    is several times faster than ``json.loads`` on these; anything it refuses goes to
    ``json.loads``, so the result is always what ``json.loads`` would give."""
    try:
        return from_json(text, allow_inf_nan=False, cache_strings="keys")
    except (ValueError, TypeError):
        return json.loads(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)


class EventStore:
    """Append and read events; see the module docstring for the guarantees."""

    def __init__(self, pool: asyncpg.Pool, keyring: KeyRing, *, notify: bool = True) -> None:
        self.pool = pool
        self.keys = DataKeys(keyring)
        self._notifier = _Notifier(pool) if notify else None

    def stream_key(self, household_id: str) -> str:
        """The household's stream: a keyed hash of its id (see ``personal_data``)."""
        return self.keys.keyring.stream_key(household_id)

    # -- writing ------------------------------------------------------------------------------
    async def append(
        self,
        stream: str,
        events: Sequence[NewEvent],
        expected_version: int | None,
        *,
        outbox: Sequence[OutboxMessage] = (),
        conn: Conn | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream`` atomically, with ``outbox`` messages; see module doc.

        With ``conn`` inside a transaction the append joins it (and is not retried on a
        concurrent append: the caller's transaction is aborted and must be retried whole).
        """
        _validate(stream, events, expected_version, outbox)
        if conn is None:
            async with self.pool.acquire() as own:
                result = await self._append(own, stream, events, expected_version, outbox, True)
        else:
            retry = not conn.is_in_transaction()
            result = await self._append(conn, stream, events, expected_version, outbox, retry)
        if not result.duplicate and self._notifier is not None:
            self._notifier.poke()
        return result

    async def _append(
        self,
        conn: Conn,
        stream: str,
        events: Sequence[NewEvent],
        expected: int | None,
        outbox: Sequence[OutboxMessage],
        may_retry: bool,
    ) -> AppendResult:
        personal = any(e.data.get(PERSONAL) for e in events) or any(
            _outbound_personal(m.payload) for m in outbox
        )
        for _attempt in range(_RACE_RETRIES):
            key = await self.keys.current(conn, stream) if personal else None
            try:
                rows = await conn.fetch(
                    _APPEND,
                    stream,
                    expected,
                    key.key_id if key else None,
                    *_event_arrays(stream, events, key),
                    *_outbox_arrays(stream, outbox, key),
                )
            except asyncpg.UniqueViolationError as exc:
                # A concurrent append won the race (same stream version, or same event id).
                if not may_retry:  # the caller's transaction is aborted: it must retry whole
                    if exc.constraint_name in ("events_event_id_key", "events_partial_duplicate"):
                        raise DuplicateEventError(
                            "an event of this batch was stored meanwhile by another transaction"
                        ) from exc
                    raise ConcurrencyConflict(stream, expected, None) from exc
                if exc.constraint_name == "events_partial_duplicate":
                    raise DuplicateEventError(str(exc)) from exc
                if exc.constraint_name == "events_stream_version" and expected is not None:
                    actual = await self.version(stream, conn=conn)
                    raise ConcurrencyConflict(stream, expected, actual) from exc
                continue  # any version: go again; same id: the next attempt reports duplicate
            outcome = rows[0]["outcome"]
            if outcome == "appended":
                return AppendResult(stream, rows[-1]["version"], tuple(r["position"] for r in rows))
            if outcome == "duplicate":
                return _duplicate_result(stream, events, rows)
            if outcome == "conflict":
                raise ConcurrencyConflict(stream, expected, rows[0]["version"])
            if outcome == "key_missing":  # shredded meanwhile: encrypt with a new key
                self.keys.forget(stream)
                continue
            raise EventStoreError(f"unexpected append outcome {outcome!r}")
        raise ConcurrencyConflict(stream, expected, None)

    async def append_many(
        self, appends: Sequence[StreamAppend], *, conn: Conn | None = None
    ) -> list[AppendResult]:
        """Append to many streams atomically in one statement; one result per ``appends``.

        See the module docstring. Each stream may appear once; with ``conn`` inside a
        transaction the append joins it (a concurrent append to one of the streams then aborts
        the caller's transaction: :class:`ConcurrencyConflict` or :class:`DuplicateEventError`,
        retry the whole transaction); otherwise such a race is retried here.
        """
        if not appends:
            return []
        _validate_many(appends)
        if conn is None:
            async with self.pool.acquire() as own:
                results = await self._append_many(own, appends, True)
        else:
            results = await self._append_many(conn, appends, not conn.is_in_transaction())
        if self._notifier is not None and not all(r.duplicate for r in results):
            self._notifier.poke()
        return results

    async def _append_many(
        self, conn: Conn, appends: Sequence[StreamAppend], may_retry: bool
    ) -> list[AppendResult]:
        personal = _personal_streams(appends)
        for _attempt in range(_RACE_RETRIES):
            keys = await self.keys.current_many(conn, personal) if personal else {}
            try:
                rows = await conn.fetch(_APPEND_MANY, *_many_arrays(appends, keys))
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "events_partial_duplicate":
                    raise DuplicateEventError(str(exc)) from exc
                if not may_retry:  # the caller's transaction is aborted: it must retry whole
                    raise _lost_race(exc, appends) from exc
                # A concurrent append won: the next attempt sees it (conflict, or duplicate).
                continue
            outcome = rows[0]["outcome"] if rows else None
            if outcome == "key_missing":  # shredded meanwhile: encrypt with a new key
                self.keys.forget(rows[0]["stream"])
                continue
            if outcome == "conflict":
                stream = rows[0]["stream"]
                wanted = next(a.expected_version for a in appends if a.stream == stream)
                raise ConcurrencyConflict(stream, wanted, rows[0]["version"])
            return _many_results(appends, rows)
        raise ConcurrencyConflict(appends[0].stream, appends[0].expected_version, None)

    async def append_new(
        self, chunks: Iterable[Sequence[StreamAppend]], *, conn: Conn
    ) -> AppendNewResult:
        """Append the events whose ids are not stored yet (any version); see the module doc.

        ``chunks`` are appended in turn, one statement each, in ``conn``'s transaction, which
        the caller must have begun. The next chunk is pulled from the iterable, and encrypted,
        while the database writes the previous one, so a caller that does its own work per chunk
        (ingest validates it) overlaps it with the database's. A concurrent append to one of the
        streams, or of one of the events, aborts the transaction (:class:`ConcurrencyConflict`
        or :class:`DuplicateEventError`): retry it whole. Every ``expected_version`` must be
        :data:`ANY_VERSION`; a stream may appear in several chunks. Wakes no subscriber: the
        caller knows when its transaction committed.
        """
        if not conn.is_in_transaction():
            raise ValueError("append_new runs in the caller's transaction: begin one first")
        appended = 0
        stored: set[uuid.UUID] = set()
        pending: asyncio.Future[list[asyncpg.Record]] | None = None
        in_flight: Sequence[StreamAppend] = ()

        async def settle() -> None:
            nonlocal appended, pending
            if pending is None:
                return
            future, pending = pending, None
            try:
                rows = await future
            except asyncpg.UniqueViolationError as exc:
                raise _lost_race(exc, in_flight) from exc
            if rows and rows[0]["outcome"] == "key_missing":  # shredded meanwhile
                # Nothing of that chunk was written: encrypt it with a new key and write it now.
                self.keys.forget(rows[0]["stream"])
                rows = await self._append_new_now(conn, in_flight)
            chunk_stored = {r["event_id"] for r in rows}
            stored.update(chunk_stored)
            appended += sum(len(a.events) for a in in_flight) - len(chunk_stored)

        try:
            for appends in chunks:  # pulling the next chunk runs the caller's work
                if not appends:
                    continue
                _validate_many(appends)
                if any(a.expected_version is not ANY_VERSION for a in appends):
                    raise ValueError("append_new appends at any version: expected_version=None")
                personal = _personal_streams(appends)
                keys = self.keys.cached(personal)
                if len(keys) < len(personal):  # a key to read or create: the connection is needed
                    await settle()
                    keys = await self.keys.current_many(conn, personal)
                streams, _expected, *arrays = _many_arrays(appends, keys)
                await settle()
                in_flight = appends
                pending = asyncio.ensure_future(conn.fetch(_APPEND_NEW, streams, *arrays))
                await asyncio.sleep(0)  # let it send the statement before the next chunk's work
            await settle()
        finally:
            if pending is not None:  # failed meanwhile: let the statement end, then roll back
                with contextlib.suppress(Exception):
                    await pending
        return AppendNewResult(appended, frozenset(stored))

    async def _append_new_now(
        self, conn: Conn, appends: Sequence[StreamAppend]
    ) -> list[asyncpg.Record]:
        """One chunk of :meth:`append_new`, fetching keys first (after a key went missing)."""
        personal = _personal_streams(appends)
        for _attempt in range(_RACE_RETRIES):
            keys = await self.keys.current_many(conn, personal)
            streams, _expected, *arrays = _many_arrays(appends, keys)
            try:
                rows = await conn.fetch(_APPEND_NEW, streams, *arrays)
            except asyncpg.UniqueViolationError as exc:
                raise _lost_race(exc, appends) from exc
            if not rows or rows[0]["outcome"] != "key_missing":
                return rows
            self.keys.forget(rows[0]["stream"])
        raise ConcurrencyConflict(appends[0].stream, ANY_VERSION, None)

    async def shred(self, stream: str) -> bool:
        """Crypto-shred the household's personal fields (delete its data key).

        Its outbox rows written in clear before migration 0301 lose their personal fields in
        the same transaction (the others are sealed under the deleted key). True if a key was
        deleted."""
        async with self.pool.acquire() as conn, conn.transaction():
            deleted = await self.keys.shred(conn, stream)
            await conn.execute(
                f"UPDATE outbox SET payload = {_STRIPPED} WHERE stream = $1 AND {_CLEAR_PERSONAL}",
                stream,
            )
            return deleted

    # -- reading ------------------------------------------------------------------------------
    async def version(self, stream: str, *, conn: Conn | None = None) -> int:
        sql = "SELECT coalesce(max(version), 0) FROM events WHERE stream = $1"
        if conn is not None:
            return int(await conn.fetchval(sql, stream))
        async with self.pool.acquire() as own:
            return int(await own.fetchval(sql, stream))

    async def read_stream(
        self, stream: str, *, after_version: int = 0, conn: Conn | None = None
    ) -> list[RecordedEvent]:
        """Every event of the stream after ``after_version``, in version order."""
        if conn is None:
            async with self.pool.acquire() as own:
                rows = await own.fetch(_READ_STREAM, stream, after_version)
        else:
            rows = await conn.fetch(_READ_STREAM, stream, after_version)
        return [self._decode(r) for r in rows]

    async def read_all(
        self, after_position: int = 0, limit: int = 500, *, conn: Conn | None = None
    ) -> list[RecordedEvent]:
        """Up to ``limit`` events after ``after_position`` in global order, never skipping one.

        Resume with the last event's position. An empty list means "nothing more yet".
        """
        return (await self.read_page(after_position, limit, conn=conn)).events

    async def read_page(
        self,
        after_position: int,
        limit: int,
        *,
        types: Collection[str] | None = None,
        decrypt: bool = True,
        conn: Conn | None = None,
    ) -> Page:
        """:meth:`read_all`, also telling whether newer events are held back by an open one.

        With ``types``, the page still covers the next ``limit`` events of every type (so
        ``Page.count`` and ``Page.end`` move a follower past them all), but ``Page.events``
        holds only those of the given types: the others are neither sent nor decoded.

        With ``decrypt=False`` the events' ``personal`` members are kept sealed
        (:attr:`RecordedEvent.sealed`), for a reader that needs few of them: decrypting one
        (AES-GCM, then its JSON) costs nearly as much as decoding the rest of the event.
        """
        if conn is None:
            async with self.pool.acquire() as own:
                return await self._read_page(own, after_position, limit, types, decrypt)
        return await self._read_page(conn, after_position, limit, types, decrypt)

    async def read_span(
        self,
        after_position: int,
        limit: int,
        *,
        types: Collection[str] | None = None,
        conn: Conn,
    ) -> Page:
        """:meth:`read_page` without the events: how far the page reaches (``Page.end``, never
        past an event that could still appear before it) and how many of its events are of
        ``types`` (``Page.wanted``), for a reader that works on them in the database itself."""
        wanted = None if types is None else list(types)
        row = await conn.fetchrow(_READ_SPAN, after_position, limit, wanted)
        assert row is not None  # an aggregate: always one row
        return Page(
            [], row["held_back"], read=row["read"], last_position=row["last"], wanted=row["wanted"]
        )

    async def read_positions(
        self, positions: Collection[int], *, decrypt: bool = True, conn: Conn
    ) -> list[RecordedEvent]:
        """The events at ``positions`` (those that exist), in order."""
        rows = await conn.fetch(_READ_POSITIONS, list(positions))
        return [self._decode(r, decrypt) for r in rows]

    async def _read_page(
        self,
        conn: Conn,
        after: int,
        limit: int,
        types: Collection[str] | None,
        decrypt: bool,
    ) -> Page:
        wanted = None if types is None else list(types)
        rows = await conn.fetch(_READ_PAGE, after, limit, wanted)
        page = rows[0]  # always one row: the page's summary, with or without an event
        events = [self._decode(r, decrypt) for r in rows if r["position"] is not None]
        events.sort(key=_position)  # they come in order (linear to check), unpromised by SQL
        return Page(events, page["held_back"], read=page["read"], last_position=page["last"])

    def _decode(self, row: asyncpg.Record, decrypt: bool = True) -> RecordedEvent:
        data: dict[str, Any] = loads(row["data"])
        sealed = None
        if PERSONAL in data:
            key_id, wrapped = row["key_id"], row["wrapped_key"]
            if decrypt:
                data[PERSONAL] = self.keys.decrypt(
                    row["stream"], row["event_id"], data[PERSONAL], key_id, wrapped
                )
            else:
                sealed = SealedPersonal(data.pop(PERSONAL), key_id, wrapped, self.keys)
        return RecordedEvent(
            position=row["position"],
            event_id=row["event_id"],
            stream=row["stream"],
            version=row["version"],
            type=row["type"],
            schema_version=row["schema_version"],
            data=data,
            metadata=loads(row["metadata"]),
            occurred_at=row["occurred_at"],
            recorded_at=row["recorded_at"],
            sealed=sealed,
        )

    async def close(self) -> None:
        """Wait for a pending wake-up notification (the pool is the caller's to close)."""
        if self._notifier is not None:
            await self._notifier.aclose()


_position: Final = operator.attrgetter("position")


def _validate(
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


def _validate_many(appends: Sequence[StreamAppend]) -> None:
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


def _personal_streams(appends: Sequence[StreamAppend]) -> list[str]:
    """The streams with an event that has personal fields (they need a data key)."""
    return [a.stream for a in appends if any(e.data.get(PERSONAL) for e in a.events)]


def _many_arrays(
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
        arrays = _event_arrays(a.stream, a.events, key, fresh)
        for column, values in zip(columns, arrays, strict=True):
            column.extend(values)
    return (streams, expected, key_ids, *columns)


def _many_results(
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
            results.append(_duplicate_result(a.stream, a.events, mine))
        else:
            results.append(
                AppendResult(a.stream, mine[-1]["version"], tuple(r["position"] for r in mine))
            )
    return results


def _lost_race(
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


def _event_arrays(
    stream: str,
    events: Sequence[NewEvent],
    key: DataKey | None,
    fresh: list[bytes] | None = None,
) -> tuple[list[Any], ...]:
    """The statement's columns for one stream's events; ``fresh`` supplies nonces (popped)."""
    data: list[str] = []
    metadata: list[str] = []
    for e in events:
        encode = _plain_dumps if e.plain_json else dumps
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


def _plain_dumps(value: Any) -> str:
    """:func:`dumps` for plain JSON values (``NewEvent.plain_json``), in Rust."""
    return to_json(value).decode()


def _outbox_arrays(
    stream: str, outbox: Iterable[OutboxMessage], key: DataKey | None
) -> tuple[list[Any], ...]:
    messages = list(outbox)
    return (
        [m.message_id for m in messages],
        [m.topic for m in messages],
        [m.key if m.key is not None else stream for m in messages],
        [dumps(_sealed_payload(stream, m, key)) for m in messages],
        [dumps(dict(m.headers)) for m in messages],
    )


def _outbound_personal(payload: Mapping[str, Any]) -> bool:
    data = payload.get("data")
    return isinstance(data, Mapping) and bool(split_personal(data, OUTBOX_PERSONAL).get(PERSONAL))


def _sealed_payload(stream: str, message: OutboxMessage, key: DataKey | None) -> Mapping[str, Any]:
    """The stored form of a message: its CloudEvent with ``data``'s personal fields encrypted
    under ``data["personal"]`` (like an event's), bound to the stream and message id."""
    data = message.payload.get("data")
    if not isinstance(data, Mapping):
        return message.payload
    split = split_personal(data, OUTBOX_PERSONAL)
    personal = split.pop(PERSONAL, None)
    if not personal:
        return message.payload
    assert key is not None  # _append fetched one: the message has personal fields
    split[PERSONAL] = encrypt_outbound(key, stream, message.message_id, personal)
    return {**message.payload, "data": split}


def open_outbound(
    keys: DataKeys,
    stream: str,
    message_id: str,
    payload: Mapping[str, Any],
    key_id: uuid.UUID | None,
    wrapped_key: bytes | None,
) -> tuple[dict[str, Any], bool]:
    """A stored outbox payload as published, and whether its personal fields were shredded.

    ``key_id`` and ``wrapped_key`` are the stream's ``household_keys`` row now (None: none).
    A row written in clear (before migration 0301) comes back as it is; a shredded one without
    its personal fields (the rest of the message still tells consumers what happened to the
    case)."""
    data = payload.get("data")
    if not isinstance(data, Mapping) or PERSONAL not in data:
        return dict(payload), False
    opened = keys.decrypt_outbound(stream, message_id, data[PERSONAL], key_id, wrapped_key)
    merged = merge_personal({**data, PERSONAL: opened})
    return {**payload, "data": merged}, is_shredded(opened)


def _duplicate_result(
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


class _Notifier:
    """Coalesces wake-ups: one NOTIFY at a time, at most one per ``_NOTIFY_INTERVAL``, and
    the last append is always followed by one."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending = False
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-store-notify")

    async def _run(self) -> None:
        while self._pending:
            self._pending = False
            try:
                async with self._pool.acquire() as conn:
                    await conn.execute(_NOTIFY)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                # Subscribers poll as well; a lost wake-up only delays them.
                log.warning("could not notify subscribers", error=str(exc))
                return
            # At most one NOTIFY per interval: under load one wake-up covers many appends.
            await asyncio.sleep(_NOTIFY_INTERVAL)

    async def aclose(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

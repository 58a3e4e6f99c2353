"""The event store: the only code that writes the ``events`` table (DESIGN.md, "Data flow").

Appends are idempotent by event id, checked before ``expected_version`` (a retried append that
succeeded is a no-op, not a conflict). A global position is ``(transaction id << 16) + index``
and followers read only below the horizon of ended transactions, so they never skip an event
(:data:`HORIZON_SQL`). Events' ``data["personal"]`` and outbox messages' :data:`OUTBOX_PERSONAL`
fields are stored encrypted with the household's data key. Subscribers are woken by a coalesced
``NOTIFY`` after the commit, never inside it (:mod:`outreach.store.notifier`). Types, SQL and
helpers live in sibling modules; the names in ``__all__`` stay importable from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Final

import asyncpg

from outreach.store.appending import (
    APPEND,
    APPEND_MANY,
    APPEND_NEW,
    MAX_BATCH,
    duplicate_result,
    event_arrays,
    lost_race,
    many_arrays,
    many_results,
    personal_streams,
    validate,
    validate_many,
)
from outreach.store.database import Conn
from outreach.store.json_codec import dumps, loads
from outreach.store.notifier import CHANNEL, Notifier
from outreach.store.outbox_personal import (
    CLEAR_PERSONAL,
    OUTBOX_PERSONAL,
    OUTBOX_WITHOUT_CLEAR_PERSONAL,
    STRIPPED,
    open_outbound,
    outbound_personal,
    outbox_arrays,
)
from outreach.store.personal_data import PERSONAL, DataKeys, KeyRing
from outreach.store.reading import (
    HORIZON_SQL,
    READ_PAGE,
    READ_POSITIONS,
    READ_SPAN,
    READ_STREAM,
    by_position,
    decode,
)
from outreach.store.records import (
    ANY_VERSION,
    NO_STREAM,
    AppendNewResult,
    AppendResult,
    ConcurrencyConflict,
    DuplicateEventError,
    EventStoreError,
    NewEvent,
    OutboxMessage,
    Page,
    RecordedEvent,
    SealedPersonal,
    StreamAppend,
)

__all__ = [
    "ANY_VERSION",
    "CHANNEL",
    "HORIZON_SQL",
    "MAX_BATCH",
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
    "dumps",
    "loads",
    "open_outbound",
]

_RACE_RETRIES: Final = 20


class EventStore:
    """Append and read events; see the module docstring for the guarantees."""

    def __init__(self, pool: asyncpg.Pool, keyring: KeyRing, *, notify: bool = True) -> None:
        self.pool = pool
        self.keys = DataKeys(keyring)
        self._notifier = Notifier(pool) if notify else None

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
        """Append ``events`` to ``stream`` atomically, with ``outbox`` messages, in one statement.

        ``expected_version``: ``None`` (:data:`ANY_VERSION`) appends at the end whatever the
        stream's version (a concurrent append is retried); ``0`` (:data:`NO_STREAM`) requires a
        new stream; ``n > 0`` requires version ``n``; otherwise :class:`ConcurrencyConflict`,
        nothing written. If the batch's ids are stored already nothing is written and the result
        (``duplicate=True``) reports the stored positions and versions; this check comes before
        the version check. A batch mixing stored and new ids raises
        :class:`DuplicateEventError`. ``data["personal"]`` and the messages'
        :data:`OUTBOX_PERSONAL` fields (moved under their ``data["personal"]``) are encrypted with
        the household's data key; the relay opens them (:func:`open_outbound`), and publishes
        without them once the household is shredded.

        With ``conn`` inside a transaction the append joins it (and is not retried on a
        concurrent append: the caller's transaction is aborted and must be retried whole).
        """
        validate(stream, events, expected_version, outbox)
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
            outbound_personal(m.payload) for m in outbox
        )
        for _attempt in range(_RACE_RETRIES):
            key = await self.keys.current(conn, stream) if personal else None
            try:
                rows = await conn.fetch(
                    APPEND,
                    stream,
                    expected,
                    key.key_id if key else None,
                    *event_arrays(stream, events, key),
                    *outbox_arrays(stream, outbox, key),
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
                return duplicate_result(stream, events, rows)
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

        What one ``append`` per stream in one transaction would do (``outreach_append_many``,
        migration 0003): data keys fetched or created for all streams in two statements. All or
        nothing: a version conflict on any stream raises :class:`ConcurrencyConflict` and writes
        nothing; a stream whose events are all stored already is reported ``duplicate=True``
        (and not written). No outbox messages (use ``append``). Each stream may appear once.

        With ``conn`` inside a transaction the append joins it (a concurrent append to one of
        the streams then aborts the caller's transaction: :class:`ConcurrencyConflict` or
        :class:`DuplicateEventError`, retry the whole transaction); otherwise such a race is
        retried here.
        """
        if not appends:
            return []
        validate_many(appends)
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
        personal = personal_streams(appends)
        for _attempt in range(_RACE_RETRIES):
            keys = await self.keys.current_many(conn, personal) if personal else {}
            try:
                rows = await conn.fetch(APPEND_MANY, *many_arrays(appends, keys))
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "events_partial_duplicate":
                    raise DuplicateEventError(str(exc)) from exc
                if not may_retry:  # the caller's transaction is aborted: it must retry whole
                    raise lost_race(exc, appends) from exc
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
            return many_results(appends, rows)
        raise ConcurrencyConflict(appends[0].stream, appends[0].expected_version, None)

    async def append_new(
        self, chunks: Iterable[Sequence[StreamAppend]], *, conn: Conn
    ) -> AppendNewResult:
        """Append the events whose ids are not stored yet (any version), skip the others.

        Idempotent per event, not per stream (``outreach_append_new``, migration 0031): what a
        feed needs, since a batch read again after a crash may hold an old and a new event of one
        household; the common case costs one statement that returns no rows.

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
                raise lost_race(exc, in_flight) from exc
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
                validate_many(appends)
                if any(a.expected_version is not ANY_VERSION for a in appends):
                    raise ValueError("append_new appends at any version: expected_version=None")
                personal = personal_streams(appends)
                keys = self.keys.cached(personal)
                if len(keys) < len(personal):  # a key to read or create: the connection is needed
                    await settle()
                    keys = await self.keys.current_many(conn, personal)
                streams, _expected, *arrays = many_arrays(appends, keys)
                await settle()
                in_flight = appends
                pending = asyncio.ensure_future(conn.fetch(APPEND_NEW, streams, *arrays))
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
        personal = personal_streams(appends)
        for _attempt in range(_RACE_RETRIES):
            keys = await self.keys.current_many(conn, personal)
            streams, _expected, *arrays = many_arrays(appends, keys)
            try:
                rows = await conn.fetch(APPEND_NEW, streams, *arrays)
            except asyncpg.UniqueViolationError as exc:
                raise lost_race(exc, appends) from exc
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
                f"UPDATE outbox SET payload = {STRIPPED} WHERE stream = $1 AND {CLEAR_PERSONAL}",
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
                rows = await own.fetch(READ_STREAM, stream, after_version)
        else:
            rows = await conn.fetch(READ_STREAM, stream, after_version)
        return [decode(r, self.keys) for r in rows]

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
        row = await conn.fetchrow(READ_SPAN, after_position, limit, wanted)
        assert row is not None  # an aggregate: always one row
        return Page(
            [], row["held_back"], read=row["read"], last_position=row["last"], wanted=row["wanted"]
        )

    async def read_positions(
        self, positions: Collection[int], *, decrypt: bool = True, conn: Conn
    ) -> list[RecordedEvent]:
        """The events at ``positions`` (those that exist), in order."""
        rows = await conn.fetch(READ_POSITIONS, list(positions))
        return [decode(r, self.keys, decrypt) for r in rows]

    async def _read_page(
        self,
        conn: Conn,
        after: int,
        limit: int,
        types: Collection[str] | None,
        decrypt: bool,
    ) -> Page:
        wanted = None if types is None else list(types)
        rows = await conn.fetch(READ_PAGE, after, limit, wanted)
        page = rows[0]  # always one row: the page's summary, with or without an event
        events = [decode(r, self.keys, decrypt) for r in rows if r["position"] is not None]
        events.sort(key=by_position)  # they come in order (linear to check), unpromised by SQL
        return Page(events, page["held_back"], read=page["read"], last_position=page["last"])

    async def close(self) -> None:
        """Wait for a pending wake-up notification (the pool is the caller's to close)."""
        if self._notifier is not None:
            await self._notifier.aclose()

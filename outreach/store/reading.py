"""Reading events in global position order without skipping one: horizon, statements, decoding."""

from __future__ import annotations

import operator
from typing import Any, Final

import asyncpg

from outreach.store.json_codec import loads
from outreach.store.personal_data import PERSONAL, DataKeys
from outreach.store.records import RecordedEvent, SealedPersonal

HORIZON_SQL: Final = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)"
"""Positions below this (in the same statement) belong to ended transactions only.

A position is ``(pg_current_xact_id() << 16) + index within the transaction``: unique and in
transaction-id order by construction, with no lock or shared counter (a ``bigserial`` would let
a follower pass a number drawn by a transaction that commits later; a lock around "draw, commit"
would serialise every commit). Every transaction below the snapshot's xmin has ended, so an
event below this horizon is visible now or never exists, and a reader that has seen position N
never later finds a committed event below N. Hence: positions are sparse; order is
transaction-id order, not commit order; a checkpoint is the position alone; a follower waits
for every older write transaction in the cluster to end (a long one delays it, never makes it
skip); appends do not wait for each other, so commits share fsyncs (``bench/event_store.py``).
16 low bits: 65,536 events (and as many outbox messages) per transaction, 2**47 transaction ids.
"""

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
(of the types ``$3``, or all when NULL): the common part of :data:`READ_PAGE` and
:data:`READ_SPAN`."""
READ_PAGE = f"""
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
READ_SPAN = f"""
    WITH {_SCAN}
    SELECT count(*) FILTER (WHERE settled) AS read,
           max(position) FILTER (WHERE settled) AS last,
           coalesce(bool_or(NOT settled), false) AS held_back,
           count(*) FILTER (WHERE settled AND wanted) AS wanted
    FROM scan
"""
""":data:`READ_PAGE`'s summary row alone, plus how many of the page's events are wanted."""
READ_POSITIONS = f"""
    SELECT {_COLUMNS} FROM events e LEFT JOIN household_keys k ON k.stream = e.stream
    WHERE e.position = ANY($1::bigint[]) ORDER BY e.position
"""
READ_STREAM = f"""
    SELECT {_COLUMNS} FROM events e LEFT JOIN household_keys k ON k.stream = e.stream
    WHERE e.stream = $1 AND e.version > $2 ORDER BY e.version
"""


def decode(row: asyncpg.Record, keys: DataKeys, decrypt: bool = True) -> RecordedEvent:
    """An ``events`` row (with its household key's columns) as a :class:`RecordedEvent`."""
    data: dict[str, Any] = loads(row["data"])
    sealed = None
    if PERSONAL in data:
        key_id, wrapped = row["key_id"], row["wrapped_key"]
        if decrypt:
            data[PERSONAL] = keys.decrypt(
                row["stream"], row["event_id"], data[PERSONAL], key_id, wrapped
            )
        else:
            sealed = SealedPersonal(data.pop(PERSONAL), key_id, wrapped, keys)
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


by_position: Final = operator.attrgetter("position")

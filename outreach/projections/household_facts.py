"""The ``household_facts`` projection: the latest fact of each kind per household.

Source: ``facts.household.reported`` agency events (CONTRACT.md): ``data`` is
``{"household": {"household_id", "district", ...}, "person"?, "fact": {"kind", "amount"?,
"count"?, "period"?, "detail"?}}``, with personal fields possibly moved under ``personal`` by
:func:`~outreach.store.personal_data.split_personal`; the projection reads the merged view and
stores no personal field (the household is the event's stream key; of ``fact.detail`` only the
programme a ``benefit`` fact names is kept, as ``{"programme": ...}``).

One row per (household, kind); a fact replaces the stored one of its kind only if it is newer
by the agency's time (``occurred_at``, then position), so late, out-of-order deliveries do not
overwrite fresher data. Screening reads it: income, real estate, vehicles, business, pension,
existing benefits.

Set-based (``in_database``): a page's facts are projected by one statement (:data:`_SPAN`)
that reads them where they are, picks the newest per (household, kind) and upserts it, as
:meth:`~HouseholdFactsProjection.apply_batch` would, for every fact whose row needs nothing but
its clear JSON in the shapes ingest stores (a kind other than ``benefit``, a decimal string
amount, an integer count, a text period and district); the others (benefit facts, facts whose
kind is not in clear, anything unusual) are left to ``apply_batch`` in the same step. Decoding
and sending the events out was about three quarters of this projection's CPU. The ``fact``
column then keeps numbers as stored (``12.50``), where the Python path writes ``12.5``.

Events read for ``apply_batch`` come with their personal part sealed (``decrypt = False``): of
it only a ``benefit`` fact's detail is needed, so only the newest benefit fact of a page per
household is decrypted (and a fact without a kind in clear, to look for it there), where
decrypting every event cost about 5 us each (AES-GCM, then JSON), nearly as much as decoding
the rest of it. The rest of the row is read from the clear part: ingest's ``PERSONAL_PATHS``
keep the person, the household id and ``fact.detail`` personal.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Final, NamedTuple

from pydantic_core import to_json

from outreach.infra.log import get_logger
from outreach.policy.programmes import Programme, programme_named
from outreach.projections.base import Projection
from outreach.store.database import Conn
from outreach.store.event_store import RecordedEvent, dumps
from outreach.store.personal_data import merged_part

__all__ = ["FACTS_EVENT_TYPE", "HouseholdFactsProjection"]

FACTS_EVENT_TYPE: Final = "facts.household.reported"

log = get_logger(__name__)


class HouseholdFactsProjection(Projection):
    name: ClassVar[str] = "household_facts"
    handles: ClassVar[frozenset[str]] = frozenset({FACTS_EVENT_TYPE})
    decrypt: ClassVar[bool] = False
    in_database: ClassVar[bool] = True

    async def apply_span(self, conn: Conn, after: int, upto: int) -> Sequence[int]:
        rows = await conn.fetch(_SPAN, after, upto, FACTS_EVENT_TYPE)
        return [r["position"] for r in rows]

    async def apply(self, conn: Conn, event: RecordedEvent) -> None:
        await self.apply_batch(conn, [event])

    async def apply_batch(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        """One statement per page: the newest fact of each (household, kind) in the page is
        upserted, and replaces the stored row only if newer, which ends where applying every
        event in turn would (the order is a maximum of (occurred_at, position)). Rows are built
        (and benefit facts decrypted) for those newest facts only."""
        newest: dict[tuple[str, str], tuple[RecordedEvent, dict[str, Any]]] = {}
        for event in events:
            found = _fact(event)
            if found is None:
                continue
            key = (found[0].stream, found[1]["kind"])
            seen = newest.get(key)
            if seen is None or _newer(found[0], seen[0]):
                newest[key] = found
        if not newest:
            return
        rows = [_row(event, fact) for event, fact in newest.values()]
        await conn.execute(_UPSERT, *(list(column) for column in zip(*rows, strict=True)))

    async def reset(self, conn: Conn) -> None:
        await conn.execute("DELETE FROM household_facts")


class _Row(NamedTuple):
    """A row of the table, in :data:`_UPSERT`'s column order."""

    household: str
    kind: str
    district: str | None
    amount: str | None
    count_: int | None  # ``count`` is a tuple method
    period: str | None
    detail: str | None
    fact: str
    reported_at: datetime
    event_id: uuid.UUID
    position: int


def _newer(event: RecordedEvent, than: RecordedEvent) -> bool:
    return (event.occurred_at, event.position) > (than.occurred_at, than.position)


def _fact(event: RecordedEvent) -> tuple[RecordedEvent, dict[str, Any]] | None:
    """The event's fact, which has a ``kind``; the event is decrypted first if its kind is not
    in clear. None (logged) for a fact without a kind."""
    fact = merged_part(event.data, "fact")
    if event.sealed is not None and not _has_kind(fact):
        event = event.decrypted()
        fact = merged_part(event.data, "fact")
    if not _has_kind(fact):
        log.warning("fact event without fact.kind ignored", position=event.position)
        return None
    return event, fact


def _has_kind(fact: object) -> bool:
    return isinstance(fact, dict) and isinstance(fact.get("kind"), str)


def _row(event: RecordedEvent, fact: dict[str, Any]) -> _Row:
    programme = None
    if fact["kind"] == "benefit":
        # ``detail`` is personal (free text such as an address or a plate number): only the
        # programme a ``benefit`` fact names is kept, so the row holds nothing that shredding
        # the household's key would have to reach. The one personal field read.
        if event.sealed is not None:
            event = event.decrypted()
            fact = merged_part(event.data, "fact")
        programme = programme_named(fact.get("detail"))
    household = merged_part(event.data, "household")
    district = household.get("district") if isinstance(household, dict) else None
    return _Row(
        household=event.stream,
        kind=fact["kind"],
        # not text (never from ingest): unknown, rather than a page that can never be written
        district=district if isinstance(district, str) else None,
        amount=_numeric(fact.get("amount")),
        count_=_int(fact.get("count")),
        period=None if fact.get("period") is None else str(fact["period"]),
        detail=None if programme is None else _PROGRAMME_DETAIL[programme],
        # event data is decoded JSON: pydantic-core's encoder, several times faster than dumps
        fact=to_json({k: v for k, v in fact.items() if k != "detail"}).decode(),
        reported_at=event.occurred_at,
        event_id=event.event_id,
        position=event.position,
    )


_SET_CLAUSE: Final = """
    ON CONFLICT (household, kind) DO UPDATE SET
        district = excluded.district, amount = excluded.amount, count = excluded.count,
        period = excluded.period, detail = excluded.detail, fact = excluded.fact,
        reported_at = excluded.reported_at, event_id = excluded.event_id,
        position = excluded.position
    WHERE (excluded.reported_at, excluded.position) > (f.reported_at, f.position)
"""
"""Newer (by ``occurred_at``, then position) replaces older, whatever order facts come in."""

_SPAN: Final = rf"""
    WITH span AS (
        SELECT e.position, e.stream, e.data->'fact' AS fact, e.occurred_at, e.event_id,
               e.data->'household'->'district' AS district,
               coalesce(
                   jsonb_typeof(e.data->'fact'->'kind') = 'string'
                   AND e.data->'fact'->>'kind' <> 'benefit'
                   AND (coalesce(jsonb_typeof(e.data->'fact'->'amount'), 'null') = 'null'
                        OR (jsonb_typeof(e.data->'fact'->'amount') = 'string'
                            AND e.data->'fact'->>'amount' ~ '^-?[0-9]{{1,30}}(\.[0-9]{{1,30}})?$'))
                   AND (coalesce(jsonb_typeof(e.data->'fact'->'count'), 'null') = 'null'
                        OR (jsonb_typeof(e.data->'fact'->'count') = 'number'
                            AND e.data->'fact'->>'count' ~ '^-?[0-9]{{1,9}}$'))
                   AND coalesce(jsonb_typeof(e.data->'fact'->'period'), 'null')
                       IN ('null', 'string')
                   AND coalesce(jsonb_typeof(e.data->'household'->'district'), 'null')
                       IN ('null', 'string'),
                   false) AS plain
        FROM events e
        WHERE e.position > $1 AND e.position <= $2 AND e.type = $3
    ), newest AS (
        SELECT DISTINCT ON (s.stream, s.fact->>'kind')
               s.stream AS household, s.fact->>'kind' AS kind, s.district #>> '{{}}' AS district,
               (s.fact->>'amount')::numeric AS amount, (s.fact->>'count')::integer AS count,
               s.fact->>'period' AS period, s.fact - 'detail' AS fact,
               s.occurred_at AS reported_at, s.event_id, s.position
        FROM span s WHERE s.plain
        ORDER BY s.stream, s.fact->>'kind', s.occurred_at DESC, s.position DESC
    ), written AS (
        INSERT INTO household_facts AS f (household, kind, district, amount, count, period,
                                          detail, fact, reported_at, event_id, position)
        SELECT household, kind, district, amount, count, period, NULL, fact, reported_at,
               event_id, position
        FROM newest
        {_SET_CLAUSE}
    )
    SELECT position FROM span WHERE NOT plain ORDER BY position
"""
"""The facts of positions ``($1, $2]`` whose rows come from their clear JSON alone, applied in
one statement (newest per household and kind); returns the positions of the others."""

_PROGRAMME_DETAIL: Final = {p: dumps({"programme": p.value}) for p in Programme}

_UPSERT: Final = f"""
    INSERT INTO household_facts AS f (household, kind, district, amount, count, period, detail,
                                      fact, reported_at, event_id, position)
    SELECT t.household, t.kind, t.district, t.amount::numeric, t.count, t.period, t.detail::jsonb,
           t.fact::jsonb, t.reported_at, t.event_id, t.position
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::text[],
                $7::text[], $8::text[], $9::timestamptz[], $10::uuid[], $11::bigint[])
         AS t(household, kind, district, amount, count, period, detail, fact, reported_at,
              event_id, position)
    {_SET_CLAUSE}
"""
"""One row per (household, kind) of the page (deduplicated first: an upsert may not touch a
row twice)."""


def _numeric(value: Any) -> str | None:
    """``value`` as the text of a ``numeric`` (None for no number). Sent as text: asyncpg's
    binary encoding of a Decimal costs about as much as the rest of the row."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return "NaN" if number.is_snan() else str(number)  # as the binary encoding had it


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

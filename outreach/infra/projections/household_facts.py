"""The ``household_facts`` projection: the latest fact of each kind per household.

Source: ``facts.household.reported`` agency events (CONTRACT.md): ``data`` is
``{"household": {"household_id", "district", ...}, "person"?, "fact": {"kind", "amount"?,
"count"?, "period"?, "detail"?}}``, with personal fields possibly moved under ``personal`` by
:func:`~outreach.infra.personal_data.split_personal`; the projection reads the merged view and
stores no personal field (the household is the event's stream key; of ``fact.detail`` only the
programme a ``benefit`` fact names is kept, as ``{"programme": ...}``).

One row per (household, kind); a fact replaces the stored one of its kind only if it is newer
by the agency's time (``occurred_at``, then position), so late, out-of-order deliveries do not
overwrite fresher data. Screening reads it: income, real estate, vehicles, business, pension,
existing benefits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Final

from outreach.infra.database import Conn
from outreach.infra.event_store import RecordedEvent, dumps
from outreach.infra.log import get_logger
from outreach.infra.personal_data import merged_part
from outreach.infra.projections.base import Projection
from outreach.policy.programmes import programme_named

__all__ = ["FACTS_EVENT_TYPE", "HouseholdFactsProjection"]

FACTS_EVENT_TYPE: Final = "facts.household.reported"

log = get_logger(__name__)


class HouseholdFactsProjection(Projection):
    name: ClassVar[str] = "household_facts"
    handles: ClassVar[frozenset[str]] = frozenset({FACTS_EVENT_TYPE})

    async def apply(self, conn: Conn, event: RecordedEvent) -> None:
        await self.apply_batch(conn, [event])

    async def apply_batch(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        """One statement per page: the newest fact of each (household, kind) in the page is
        upserted, and replaces the stored row only if newer, which ends where applying every
        event in turn would (the order is a maximum of (occurred_at, position))."""
        newest: dict[tuple[str, str], _Row] = {}
        for event in events:
            row = _row(event)
            if row is None:
                continue
            key = (row.household, row.kind)
            seen = newest.get(key)
            if seen is None or (row.reported_at, row.position) > (seen.reported_at, seen.position):
                newest[key] = row
        if not newest:
            return
        rows = list(newest.values())
        await conn.execute(
            _UPSERT,
            [r.household for r in rows],
            [r.kind for r in rows],
            [r.district for r in rows],
            [r.amount for r in rows],
            [r.count for r in rows],
            [r.period for r in rows],
            [r.detail for r in rows],
            [r.fact for r in rows],
            [r.reported_at for r in rows],
            [r.event_id for r in rows],
            [r.position for r in rows],
        )

    async def reset(self, conn: Conn) -> None:
        await conn.execute("DELETE FROM household_facts")


@dataclass(frozen=True, slots=True)
class _Row:
    household: str
    kind: str
    district: str | None
    amount: Decimal | None
    count: int | None
    period: str | None
    detail: str | None
    fact: str
    reported_at: datetime
    event_id: uuid.UUID
    position: int


def _row(event: RecordedEvent) -> _Row | None:
    fact = merged_part(event.data, "fact")
    if not isinstance(fact, dict) or not isinstance(fact.get("kind"), str):
        log.warning("fact event without fact.kind ignored", position=event.position)
        return None
    household = merged_part(event.data, "household")
    district = household.get("district") if isinstance(household, dict) else None
    # ``detail`` is personal (free text such as an address or a plate number): only the
    # programme a ``benefit`` fact names is kept, so the row holds nothing that shredding the
    # household's key would have to reach
    programme = programme_named(fact.get("detail")) if fact["kind"] == "benefit" else None
    return _Row(
        household=event.stream,
        kind=fact["kind"],
        district=district,
        amount=_decimal(fact.get("amount")),
        count=_int(fact.get("count")),
        period=None if fact.get("period") is None else str(fact["period"]),
        detail=None if programme is None else dumps({"programme": programme.value}),
        fact=dumps({k: v for k, v in fact.items() if k != "detail"}),
        reported_at=event.occurred_at,
        event_id=event.event_id,
        position=event.position,
    )


_UPSERT: Final = """
    INSERT INTO household_facts AS f (household, kind, district, amount, count, period, detail,
                                      fact, reported_at, event_id, position)
    SELECT t.household, t.kind, t.district, t.amount, t.count, t.period, t.detail::jsonb,
           t.fact::jsonb, t.reported_at, t.event_id, t.position
    FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::integer[], $6::text[],
                $7::text[], $8::text[], $9::timestamptz[], $10::uuid[], $11::bigint[])
         AS t(household, kind, district, amount, count, period, detail, fact, reported_at,
              event_id, position)
    ON CONFLICT (household, kind) DO UPDATE SET
        district = excluded.district, amount = excluded.amount, count = excluded.count,
        period = excluded.period, detail = excluded.detail, fact = excluded.fact,
        reported_at = excluded.reported_at, event_id = excluded.event_id,
        position = excluded.position
    WHERE (excluded.reported_at, excluded.position) > (f.reported_at, f.position)
"""
"""One row per (household, kind) of the page (deduplicated first: an upsert may not touch a
row twice)."""


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

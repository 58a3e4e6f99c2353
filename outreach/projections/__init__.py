"""Projections: read models built from the event store, each with its own checkpoint.

Registered in :data:`PROJECTIONS`; see :mod:`.base` for how to add one. Each projection is
followed by a :class:`~outreach.store.subscription.Subscription` named ``projection:<name>``, so
its rows and its checkpoint commit together (exactly-once effect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from outreach.infra.heap import settle_heap
from outreach.infra.log import get_logger
from outreach.projections.base import Projection
from outreach.projections.case_tasks import CASE_PROJECTIONS
from outreach.projections.cases import CasesProjection
from outreach.projections.household_facts import HouseholdFactsProjection
from outreach.store.database import Conn
from outreach.store.event_store import EventStore, RecordedEvent
from outreach.store.subscription import Subscription, checkpoint_lock, write_checkpoint

__all__ = [
    "PROJECTIONS",
    "CasesProjection",
    "HouseholdFactsProjection",
    "Projection",
    "by_name",
    "rebuild",
    "run_all",
    "subscription_for",
]

PROJECTIONS: tuple[Projection, ...] = (
    CasesProjection(),
    HouseholdFactsProjection(),
    *CASE_PROJECTIONS,
)
"""Every projection the service maintains. Add new ones here."""

log = get_logger(__name__)


def by_name(name: str) -> Projection:
    for projection in PROJECTIONS:
        if projection.name == name:
            return projection
    known = ", ".join(p.name for p in PROJECTIONS)
    raise KeyError(f"no projection named {name!r} (known: {known})")


def subscription_for(
    store: EventStore, projection: Projection, *, batch_size: int = 500, poll_interval: float = 1.0
) -> Subscription:
    async def handle(conn: Conn, events: Sequence[RecordedEvent]) -> None:
        await projection.apply_batch(conn, events)

    return Subscription(
        store,
        f"projection:{projection.name}",
        handle,
        types=projection.handles,
        decrypt=projection.decrypt,
        batch_size=batch_size,
        poll_interval=poll_interval,
        span=projection.apply_span if projection.in_database else None,
    )


async def rebuild(store: EventStore, projection: Projection, *, batch_size: int = 1000) -> int:
    """Rebuild from position 0 in one transaction; returns the number of events applied.

    Readers see the old rows until the rebuild commits, then the new ones (``reset`` deletes
    rather than truncates, so readers are not blocked). A running ``projections run`` waits on
    the checkpoint lock meanwhile and carries on from the rebuilt checkpoint.
    """
    subscription = subscription_for(store, projection, batch_size=batch_size)
    applied = 0
    async with store.pool.acquire() as conn, conn.transaction():
        await checkpoint_lock(conn, subscription.name)
        await projection.reset(conn)
        # what the rebuild still cannot apply is recorded again
        await conn.execute(
            "DELETE FROM projection_failures WHERE subscription = $1", subscription.name
        )
        await write_checkpoint(conn, subscription.name, 0)
        while True:
            result = await subscription.step_in(conn)
            applied += result.handled
            if not result.full:
                break
    log.info("projection rebuilt", projection=projection.name, events=applied)
    return applied


async def run_all(
    store: EventStore, stop: asyncio.Event | None = None, *, give_up_after: float | None = None
) -> None:
    """Keep every registered projection up to date until ``stop`` is set; a projection whose
    steps keep failing for ``give_up_after`` seconds raises (None: never)."""
    stop = stop or asyncio.Event()
    settle_heap()
    await asyncio.gather(
        *(subscription_for(store, p).run(stop, give_up_after=give_up_after) for p in PROJECTIONS)
    )

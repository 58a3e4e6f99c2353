"""What a projection is: a read model kept from the event store, exactly once, rebuildable.

To add one: write a class with a ``name``, the event ``handles`` it reads, ``apply`` (update its
rows for one event, using the given connection: it commits with the checkpoint) and ``reset``
(delete all its rows), put its table in a migration, and list an instance in
``outreach.infra.projections.PROJECTIONS``. ``outreach projections run`` then keeps it up to date
and ``outreach projections rebuild NAME`` rebuilds it from position 0.

``apply`` runs inside the step's transaction, in global order, once per event (through
``apply_batch``, which a projection may override to write a page of events at once); it must not
commit, must not call other services (a rebuild replays history), and should be deterministic
in the event alone (use ``event.occurred_at``, not the clock).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from outreach.infra.database import Conn
from outreach.infra.event_store import RecordedEvent

__all__ = ["Projection"]


class Projection(ABC):
    name: ClassVar[str]
    """Unique; its checkpoint is ``projection:<name>``."""
    handles: ClassVar[frozenset[str]]
    """Event types passed to :meth:`apply` (others only move the checkpoint)."""
    decrypt: ClassVar[bool] = True
    """False: events come with their ``personal`` member sealed (not in ``data``; see
    :attr:`~outreach.infra.event_store.RecordedEvent.sealed`), and the projection opens those it
    needs with ``event.decrypted()``. For one that reads personal fields of few events."""

    @abstractmethod
    async def apply(self, conn: Conn, event: RecordedEvent) -> None:
        """Update the read model for one event (inside the step's transaction)."""

    async def apply_batch(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        """Update the read model for a page of events, in global order (same transaction).

        The default applies them one by one; a projection may override it to write a whole
        page in one statement, with the same end state as applying each event in turn.
        """
        for event in events:
            await self.apply(conn, event)

    @abstractmethod
    async def reset(self, conn: Conn) -> None:
        """Remove every row, before a rebuild from position 0 (same transaction)."""

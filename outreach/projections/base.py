"""What a projection is: a read model kept from the event store, exactly once, rebuildable.

To add one: write a class with a ``name``, the event ``handles`` it reads, ``apply`` (update its
rows for one event, using the given connection: it commits with the checkpoint) and ``reset``
(delete all its rows), put its table in a migration, and list an instance in
``outreach.projections.PROJECTIONS``. ``outreach projections run`` then keeps it up to date
and ``outreach projections rebuild NAME`` rebuilds it from position 0.

``apply`` runs inside the step's transaction, in global order, once per event (through
``apply_batch``, which a projection may override to write a page of events at once); it must not
commit, must not call other services (a rebuild replays history), and should be deterministic
in the event alone (use ``event.occurred_at``, not the clock).

A projection whose rows are simple functions of the events' clear JSON can also be set-based
(``in_database = True``): :meth:`apply_span` then applies a page's events with SQL of its own,
reading them where they are instead of having them sent, decoded and written back, and leaves
only the events it cannot handle there (e.g. ones it must decrypt) to :meth:`apply_batch`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from outreach.store.database import Conn
from outreach.store.event_store import RecordedEvent

__all__ = ["Projection"]


class Projection(ABC):
    name: ClassVar[str]
    """Unique; its checkpoint is ``projection:<name>``."""
    handles: ClassVar[frozenset[str]]
    """Event types passed to :meth:`apply` (others only move the checkpoint)."""
    decrypt: ClassVar[bool] = True
    """False: events come with their ``personal`` member sealed (not in ``data``; see
    :attr:`~outreach.store.event_store.RecordedEvent.sealed`), and the projection opens those it
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

    in_database: ClassVar[bool] = False
    """True: pages go through :meth:`apply_span` (the events are not read out first)."""

    async def apply_span(self, conn: Conn, after: int, upto: int) -> Sequence[int]:
        """(``in_database``) Apply the handled events at positions in ``(after, upto]`` in the
        database (same transaction), ending where :meth:`apply_batch` of them would; return the
        positions of those left to :meth:`apply_batch`, which gets them in the same step."""
        raise NotImplementedError(f"projection {self.name} is not set-based")

    @abstractmethod
    async def reset(self, conn: Conn) -> None:
        """Remove every row, before a rebuild from position 0 (same transaction)."""

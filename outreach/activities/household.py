"""The agency's household id, for the outbound events the contract says must carry it.

Temporal never sees it (cases know households by their keyed hash); it is read here from the
case's stored agency events, where it sits encrypted under ``personal``. Once the household's
data key has been deleted (crypto-shredded) it is gone: the pseudonymous key is used instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from outreach.store.event_store import EventStore
from outreach.store.personal_data import merge_personal

__all__ = ["household_id_of"]


async def household_id_of(store: EventStore, household_key: str, event_ids: Sequence[str]) -> str:
    """The household id named by the first of ``event_ids`` (in stream order) that has one."""
    wanted = set(event_ids)
    for event in await store.read_stream(household_key):
        if wanted and str(event.event_id) not in wanted:
            continue
        household = merge_personal(event.data).get("household")
        if isinstance(household, dict):
            value = household.get("household_id")
            if isinstance(value, str) and value:
                return value
    return household_key

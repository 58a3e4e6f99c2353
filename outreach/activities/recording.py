"""Appending a case's domain events (and outbound messages) to the household's stream.

Every event id is :func:`~outreach.activities.keys.step_id` of the case and the event's step, so
an activity retried after a crash (or after a timeout whose first attempt did succeed) appends
nothing new: the store reports the batch as stored already. Outbound messages go in the same
append (transactional outbox) with the id of the event that causes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from outreach.activities.keys import step_id
from outreach.events.outbound import OUTREACH_SOURCE, OutboundData, outbound_envelope
from outreach.store.event_store import (
    ANY_VERSION,
    AppendResult,
    EventStore,
    NewEvent,
    OutboxMessage,
)
from outreach.store.personal_data import PERSONAL
from outreach.store.sealed_text import open_personal
from outreach.workflows.case_contract import is_sealed
from outreach.workflows.case_data import DomainEvent

__all__ = ["append_case_events", "new_event", "outbox_message"]


def new_event(case_id: str, event: DomainEvent, at: datetime) -> NewEvent:
    """The event-store form of a case's domain event (correlated by case id)."""
    return NewEvent(
        event_id=step_id(case_id, event.step),
        type=event.type,
        data=event.data,
        occurred_at=at,
        correlation_id=case_id,
        source=OUTREACH_SOURCE,
    )


def outbox_message(data: OutboundData, event_id: UUID, at: datetime) -> OutboxMessage:
    """The outbox form of an outbound event, its CloudEvents id that of the causing event."""
    return OutboxMessage(
        topic=data.topic,
        message_id=str(event_id),
        payload=outbound_envelope(data, event_id=str(event_id), time=at),
    )


async def append_case_events(
    store: EventStore,
    case_id: str,
    household_key: str,
    events: Sequence[DomainEvent],
    at: datetime,
    outbox: Sequence[OutboxMessage] = (),
) -> AppendResult:
    """Append ``events`` (one batch) to the household's stream; idempotent by their steps.

    Sealed free text in an event's ``personal`` member (a visit's notes, an objection's summary:
    ``outreach.store.sealed_text``) is opened here, so the stored event holds it in clear inside
    its encrypted ``personal`` member.

    A case's events have no read-decide-write cycle against the stream (the workflow is the only
    writer of its case and decides from its own state), so the append takes any version.
    """
    opened = [await _opened(store, household_key, e) for e in events]
    return await store.append(
        household_key,
        [new_event(case_id, e, at) for e in opened],
        ANY_VERSION,
        outbox=outbox,
    )


async def _opened(store: EventStore, household_key: str, event: DomainEvent) -> DomainEvent:
    """The event with the sealed free text in its ``personal`` member opened (``sealed_text``)."""
    personal = event.data.get(PERSONAL)
    if not isinstance(personal, dict) or not any(
        isinstance(v, str) and is_sealed(v) for v in personal.values()
    ):
        return event
    data = {**event.data, PERSONAL: await open_personal(store, household_key, personal)}
    return replace(event, data=data)

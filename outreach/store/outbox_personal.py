"""Outbox messages' personal fields: encrypted when appended, opened or stripped when published."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from outreach.store.json_codec import dumps
from outreach.store.personal_data import (
    PERSONAL,
    DataKey,
    DataKeys,
    encrypt_outbound,
    is_shredded,
    merge_personal,
    split_personal,
)
from outreach.store.records import OutboxMessage

OUTBOX_PERSONAL: Final = ("household_id",)
"""Dotted paths in an outbox message's CloudEvent ``data`` that are personal, stored encrypted.
Every outbound type names the household; nothing else they carry is (case ids are uuid5 of an
event id, reasons are generated, decision traces hold the figures the events keep in clear)."""
_CLEAR_PATHS: Final = ["'{data," + p.replace(".", ",") + "}'" for p in OUTBOX_PERSONAL]
CLEAR_PERSONAL: Final = "(" + " OR ".join(f"payload #> {p} IS NOT NULL" for p in _CLEAR_PATHS) + ")"
STRIPPED: Final = "payload " + " ".join(f"#- {p}" for p in _CLEAR_PATHS)
OUTBOX_WITHOUT_CLEAR_PERSONAL: Final = (
    f"CASE WHEN {CLEAR_PERSONAL} THEN {STRIPPED} ELSE payload END"
)
"""SQL: an outbox row's ``payload`` without the personal fields a row written in clear (before
migration 0301) still has; the same value for any other row (so it is not rewritten)."""


def outbox_arrays(
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


def outbound_personal(payload: Mapping[str, Any]) -> bool:
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

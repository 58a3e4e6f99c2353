"""Free text sealed with the household's data key for its trip through Temporal.

A caseworker's visit notes and an objection's summary are personal: they may describe the
household's illness or family. They reach the case as Temporal updates, and Temporal histories
cannot be crypto-shredded. So the API, the page and the CLI (through
:mod:`outreach.cases.commands`) seal such text first: AES-256-GCM under the household's data
key (the one its events' personal fields use), bound to the household's stream. The history then
holds only ``sealed:v1:<key id>:<base64>``; deleting the household's key
(``EventStore.shred``) makes it unreadable there too.

The case passes the sealed value through unchanged; :func:`open_personal`, called by the activity
that appends the case's events, opens it just before the event is stored, where it is encrypted
again as part of the event's ``personal`` member. Plain (unsealed) text passes through as it is,
so histories recorded before sealing replay and record as before.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import SEALED_PREFIX, is_sealed

__all__ = ["SealedTextError", "open_personal", "open_text", "seal"]

_NONCE: Final = 12


class SealedTextError(ValueError):
    """A sealed value that is malformed or does not decrypt for this household."""


def _aad(stream: str, key_id: uuid.UUID) -> bytes:
    return f"outreach-sealed-text\n{stream}\n{key_id}".encode()


async def seal(store: EventStore, stream: str, text: str) -> str:
    """``text`` sealed for the household ``stream`` (empty text stays empty)."""
    if not text:
        return text
    async with store.pool.acquire() as conn:
        key = await store.keys.current(conn, stream)
    nonce = os.urandom(_NONCE)
    sealed = key.aead.encrypt(nonce, text.encode(), _aad(stream, key.key_id))
    return f"{SEALED_PREFIX}{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"


async def open_text(store: EventStore, stream: str, value: str) -> str | None:
    """The text of a sealed value (plain text as it is); None once the household is shredded."""
    if not is_sealed(value):
        return value
    try:
        kid, blob = value[len(SEALED_PREFIX) :].split(":", 1)
        key_id = uuid.UUID(kid)
        raw = base64.b64decode(blob, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise SealedTextError("malformed sealed text") from exc
    wrapped = await store.pool.fetchval(
        "SELECT wrapped_key FROM household_keys WHERE stream = $1 AND key_id = $2", stream, key_id
    )
    if wrapped is None:
        return None
    key = store.keys.keyring.unwrap(stream, key_id, bytes(wrapped))
    try:
        plain = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _aad(stream, key_id))
    except InvalidTag as exc:
        raise SealedTextError("sealed text does not decrypt for this household") from exc
    return plain.decode()


async def open_personal(
    store: EventStore, stream: str, personal: Mapping[str, Any]
) -> dict[str, Any]:
    """``personal`` with its sealed string values opened (shredded ones left out)."""
    opened: dict[str, Any] = {}
    for name, value in personal.items():
        if isinstance(value, str) and is_sealed(value):
            text = await open_text(store, stream, value)
            if text is not None:
                opened[name] = text
        else:
            opened[name] = value
    return opened

"""Personal data protection: pseudonymous stream keys and crypto-shreddable personal fields.

* A household's stream key is ``HMAC-SHA256(OUTREACH_HMAC_KEY, household_id)`` in hex, so the
  event store, projections, logs and Kafka keys never carry the raw household id, and the same
  household always maps to the same stream.
* Personal fields (names, ID numbers, phones, addresses, the household id itself) are whatever
  the caller puts under the top-level ``"personal"`` member of an event's ``data``. That one
  member is encrypted (AES-256-GCM) with the household's own data key before it is stored; the
  rest of ``data`` stays readable for projections and ops. One explicit place beats a list of
  paths per event type that every new type would have to remember; :func:`split_personal` and
  :func:`merge_personal` move fields in and out of it for feed shapes.
* Each household's data key lives in ``household_keys``, wrapped with the master key
  (``OUTREACH_DATA_KEY``). Deleting that row (:meth:`DataKeys.shred`) makes every ``personal``
  member of that household unreadable for good, while the timeline itself reads fine: readers
  get :data:`SHREDDED` in place of the fields. Later events of the household get a new key.

The ciphertext is bound (AES-GCM associated data) to its stream and event id, and a wrapped key
to its stream and key id, so neither can be moved to another household or event unnoticed.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_core import from_json

from outreach.infra.log import get_logger
from outreach.infra.settings import Settings, decode_key
from outreach.store.database import Conn

__all__ = [
    "PERSONAL",
    "SHREDDED",
    "DataKey",
    "DataKeys",
    "KeyRing",
    "is_shredded",
    "load_keyring",
    "merge_personal",
    "merged_part",
    "move_personal",
    "split_personal",
]

PERSONAL: Final = "personal"
"""The member of an event's ``data`` that is stored encrypted."""
SHREDDED: Final[Mapping[str, Any]] = {"shredded": True}
"""What a reader gets in place of ``personal`` once the household's key is deleted."""
ALGORITHM: Final = "A256GCM"
DEV_KEY_FILE: Final = Path("keys") / "dev-keys.json"
_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

log = get_logger(__name__)


def is_shredded(personal: object) -> bool:
    return isinstance(personal, Mapping) and personal.get("shredded") is True


@dataclass(frozen=True)
class DataKey:
    key_id: uuid.UUID
    key: bytes
    aead: AESGCM = field(init=False, repr=False, compare=False)
    kid: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # built once per key: appends encrypt many events
        object.__setattr__(self, "aead", AESGCM(self.key))
        object.__setattr__(self, "kid", str(self.key_id))


_STREAM_CACHE: Final = 100_000
"""Household ids whose stream key a process remembers (about 30 MB at most)."""


class KeyRing:
    """The two secrets from settings: the stream-key HMAC key and the key-wrapping master key."""

    def __init__(self, hmac_key: bytes, master_key: bytes) -> None:
        if len(hmac_key) < 32:
            raise ValueError("the HMAC key must be at least 32 bytes")
        if len(master_key) != 32:
            raise ValueError("the master data key must be 32 bytes (AES-256)")
        self._hmac_key = hmac_key
        self._master = AESGCM(master_key)
        self._streams: dict[str, str] = {}

    def stream_key(self, household_id: str) -> str:
        """The household's pseudonymous stream key (64 hex characters)."""
        # Remembered: ingest asks once per event, and a household sends many (an HMAC is
        # ~1.7 us, a lookup ~0.04 us). Bounded like the data-key cache.
        key = self._streams.get(household_id)
        if key is None:
            key = hmac.new(self._hmac_key, household_id.encode(), hashlib.sha256).hexdigest()
            if len(self._streams) >= _STREAM_CACHE:
                self._streams.clear()
            self._streams[household_id] = key
        return key

    def wrap(self, stream: str, key_id: uuid.UUID, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._master.encrypt(nonce, key, _wrap_aad(stream, key_id))

    def unwrap(self, stream: str, key_id: uuid.UUID, wrapped: bytes) -> bytes:
        return self._master.decrypt(wrapped[:12], wrapped[12:], _wrap_aad(stream, key_id))


def _wrap_aad(stream: str, key_id: uuid.UUID) -> bytes:
    return f"outreach-data-key\n{stream}\n{key_id}".encode()


NONCE_SIZE: Final = 12
"""AES-GCM nonce: 96 random bits per encryption."""


def nonces(count: int) -> list[bytes]:
    """``count`` fresh random nonces from one call to the OS (a call per event costs ~0.5 us).

    Random 96-bit nonces are what encrypt_personal always used; drawing many at once changes
    nothing about their randomness. Each must be used once.
    """
    pool = os.urandom(NONCE_SIZE * count)
    return [pool[i : i + NONCE_SIZE] for i in range(0, NONCE_SIZE * count, NONCE_SIZE)]


def _field_aad(stream: str, event_id: uuid.UUID) -> bytes:
    return f"outreach-personal\n{stream}\n{event_id}".encode()


def encrypt_personal(
    key: DataKey,
    stream: str,
    event_id: uuid.UUID,
    personal: Mapping[str, Any],
    *,
    plaintext: bytes | None = None,
    nonce: bytes | None = None,
) -> dict[str, str]:
    """The stored form of a ``personal`` member: ``{"enc", "kid", "iv", "ct"}`` (base64).

    ``plaintext``, when the caller has it, is ``personal`` already encoded as JSON (UTF-8).
    ``nonce``: 12 fresh random bytes (:func:`nonces`), never used before; drawn here if None.
    """
    if plaintext is None:
        plaintext = _JSON.encode(personal).encode()
    return _seal(key, plaintext, _field_aad(stream, event_id), nonce)


def _outbound_aad(stream: str, message_id: str) -> bytes:
    # Its own label: an outbox row's ciphertext cannot pass for an event's (same id) or back.
    return f"outreach-outbound\n{stream}\n{message_id}".encode()


def encrypt_outbound(
    key: DataKey, stream: str, message_id: str, personal: Mapping[str, Any]
) -> dict[str, str]:
    """:func:`encrypt_personal` for an outbox message's personal fields, bound to its stream
    and message id (``DataKeys.decrypt_outbound`` opens it)."""
    return _seal(key, _JSON.encode(personal).encode(), _outbound_aad(stream, message_id), None)


def _seal(key: DataKey, plaintext: bytes, aad: bytes, nonce: bytes | None) -> dict[str, str]:
    if nonce is None:
        nonce = os.urandom(NONCE_SIZE)
    ciphertext = key.aead.encrypt(nonce, plaintext, aad)
    return {
        "enc": ALGORITHM,
        "kid": key.kid,
        "iv": base64.b64encode(nonce).decode(),
        "ct": base64.b64encode(ciphertext).decode(),
    }


_WARNED: set[Path] = set()


def load_keyring(settings: Settings) -> KeyRing:
    """Key material from settings, or (unset) dev keys kept in ``<state_dir>/keys/``.

    Production must set ``OUTREACH_HMAC_KEY`` and ``OUTREACH_DATA_KEY``: every process must use
    the same keys (a different HMAC key means different stream keys), and losing the master key
    loses every household's personal fields.
    """
    hmac_key = settings.hmac_key.get_secret_value() if settings.hmac_key else None
    data_key = settings.data_key.get_secret_value() if settings.data_key else None
    if hmac_key is None or data_key is None:
        key_file = settings.state_dir / DEV_KEY_FILE
        dev = _dev_keys(key_file)
        if key_file not in _WARNED:  # once per process and file, not once per component
            _WARNED.add(key_file)
            log.warning(
                "OUTREACH_HMAC_KEY / OUTREACH_DATA_KEY not set: using development keys; "
                "production must set both",
                key_file=str(key_file),
            )
        hmac_key = hmac_key or dev["hmac_key"]
        data_key = data_key or dev["data_key"]
    return KeyRing(decode_key(hmac_key), decode_key(data_key))


def _dev_keys(path: Path) -> dict[str, str]:
    """Read the dev key file, creating it (mode 0600) once; racing creators agree on one file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = {k: base64.b64encode(os.urandom(32)).decode() for k in ("hmac_key", "data_key")}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(fresh, out)
        try:
            os.link(tmp, path)  # fails if another process got there first: theirs wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


class DataKeys:
    """Per-household data keys: created on first use, cached for writing, deletable.

    The write cache may outlive a key deleted by another process; the append checks that the key
    it encrypted with still exists (same round trip) and retries with a fresh one if not. Reads
    never use the cache: they join ``household_keys``, so a deleted key reads as shredded at once.
    """

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self._current: dict[str, DataKey] = {}
        self._unwrapped: dict[tuple[uuid.UUID, bytes], tuple[bytes, AESGCM]] = {}

    async def current(self, conn: Conn, stream: str) -> DataKey:
        """The stream's data key, created (and wrapped) if it has none."""
        cached = self._current.get(stream)
        if cached is not None:
            return cached
        while True:
            row = await conn.fetchrow(
                "SELECT key_id, wrapped_key FROM household_keys WHERE stream = $1", stream
            )
            if row is None:
                key_id, key = uuid.uuid4(), AESGCM.generate_key(bit_length=256)
                inserted = await conn.fetchval(
                    "INSERT INTO household_keys (stream, key_id, wrapped_key) VALUES ($1, $2, $3)"
                    " ON CONFLICT (stream) DO NOTHING RETURNING key_id",
                    stream,
                    key_id,
                    self.keyring.wrap(stream, key_id, key),
                )
                if inserted is None:
                    continue  # another process created it meanwhile: read theirs
                found = DataKey(key_id, key)
            else:
                found = DataKey(row["key_id"], self._unwrap(stream, row["key_id"], row[1]))
            if len(self._current) > 10_000:
                self._current.clear()
            self._current[stream] = found
            return found

    async def current_many(self, conn: Conn, streams: Iterable[str]) -> dict[str, DataKey]:
        """:meth:`current` for many streams: cached, read, or created in two statements at most.

        Inside a transaction the keys it creates are cached before that transaction commits;
        if it rolls back, the append that uses such a key reports it missing and the caller
        :meth:`forget` s it (``EventStore`` does), so a stale cache entry costs one retry.
        """
        wanted = list(dict.fromkeys(streams))
        found = {s: k for s in wanted if (k := self._current.get(s)) is not None}
        missing = [s for s in wanted if s not in found]
        if missing:
            for row in await conn.fetch(_READ_KEYS, missing):
                found[row["stream"]] = DataKey(
                    row["key_id"], self._unwrap(row["stream"], row["key_id"], row["wrapped_key"])
                )
            fresh = [s for s in missing if s not in found]
            if fresh:
                made = {
                    s: DataKey(uuid.uuid4(), AESGCM.generate_key(bit_length=256)) for s in fresh
                }
                created = {
                    r["stream"]
                    for r in await conn.fetch(
                        _CREATE_KEYS,
                        fresh,
                        [made[s].key_id for s in fresh],
                        [self.keyring.wrap(s, made[s].key_id, made[s].key) for s in fresh],
                    )
                }
                found.update({s: made[s] for s in created})
                raced = [s for s in fresh if s not in created]  # created by someone else
                if raced:
                    for row in await conn.fetch(_READ_KEYS, raced):
                        found[row["stream"]] = DataKey(
                            row["key_id"],
                            self._unwrap(row["stream"], row["key_id"], row["wrapped_key"]),
                        )
            if len(self._current) > 10_000:
                self._current.clear()
            self._current.update({s: found[s] for s in missing})
        return found

    def cached(self, streams: Iterable[str]) -> dict[str, DataKey]:
        """The keys of ``streams`` known without asking the database (possibly not all)."""
        return {s: k for s in streams if (k := self._current.get(s)) is not None}

    def forget(self, stream: str) -> None:
        self._current.pop(stream, None)

    def forget_all(self) -> None:
        self._current.clear()

    async def shred(self, conn: Conn, stream: str) -> bool:
        """Delete the stream's data key: its personal fields become unreadable. True if deleted."""
        self.forget(stream)
        deleted = await conn.fetchval(
            "DELETE FROM household_keys WHERE stream = $1 RETURNING key_id", stream
        )
        if deleted is not None:
            log.info("household data key deleted (personal data shredded)", household=stream)
        return deleted is not None

    def decrypt(
        self,
        stream: str,
        event_id: uuid.UUID,
        stored: object,
        key_id: uuid.UUID | None,
        wrapped: bytes | None,
    ) -> dict[str, Any]:
        """A stored ``personal`` member back in clear, or :data:`SHREDDED` without its key."""
        aad = _field_aad(stream, event_id)
        return self._open(stream, aad, stored, key_id, wrapped, f"event {event_id}")

    def decrypt_outbound(
        self,
        stream: str,
        message_id: str,
        stored: object,
        key_id: uuid.UUID | None,
        wrapped: bytes | None,
    ) -> dict[str, Any]:
        """An outbox message's sealed personal fields (:func:`encrypt_outbound`) in clear, or
        :data:`SHREDDED` without its key."""
        aad = _outbound_aad(stream, message_id)
        return self._open(stream, aad, stored, key_id, wrapped, f"outbox message {message_id}")

    def _open(
        self,
        stream: str,
        aad: bytes,
        stored: object,
        key_id: uuid.UUID | None,
        wrapped: bytes | None,
        what: str,
    ) -> dict[str, Any]:
        if not isinstance(stored, Mapping) or stored.get("enc") != ALGORITHM:
            return dict(stored) if isinstance(stored, Mapping) else {"value": stored}
        if key_id is None or wrapped is None or str(key_id) != stored.get("kid"):
            return dict(SHREDDED)
        try:
            plaintext = self._aead(stream, key_id, wrapped).decrypt(
                base64.b64decode(stored["iv"]), base64.b64decode(stored["ct"]), aad
            )
        except (InvalidTag, ValueError, KeyError) as exc:
            raise ValueError(f"personal data of {what} does not decrypt") from exc
        try:  # pydantic-core's parser, several times faster than json.loads on these
            result: dict[str, Any] = from_json(plaintext, allow_inf_nan=False)
        except (ValueError, TypeError):
            result = json.loads(plaintext)
        return result

    def _unwrap(self, stream: str, key_id: uuid.UUID, wrapped: bytes) -> bytes:
        return self._aead_entry(stream, key_id, wrapped)[0]

    def _aead(self, stream: str, key_id: uuid.UUID, wrapped: bytes) -> AESGCM:
        return self._aead_entry(stream, key_id, wrapped)[1]

    def _aead_entry(self, stream: str, key_id: uuid.UUID, wrapped: bytes) -> tuple[bytes, AESGCM]:
        """Unwrapped key and its cipher, cached by (key id, wrapped bytes): unwrapping and
        building the cipher once per key, not once per event read."""
        cache_key = (key_id, bytes(wrapped))
        entry = self._unwrapped.get(cache_key)
        if entry is None:
            key = self.keyring.unwrap(stream, key_id, bytes(wrapped))
            entry = (key, AESGCM(key))
            if len(self._unwrapped) > 10_000:
                self._unwrapped.clear()
            self._unwrapped[cache_key] = entry
        return entry


# -- moving fields in and out of "personal" ---------------------------------------------------


_READ_KEYS: Final = (
    "SELECT stream, key_id, wrapped_key FROM household_keys WHERE stream = ANY($1::text[])"
)
_CREATE_KEYS: Final = """
    INSERT INTO household_keys (stream, key_id, wrapped_key)
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::bytea[])
    ON CONFLICT (stream) DO NOTHING
    RETURNING stream
"""


def split_personal(data: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """A copy of ``data`` with the dotted ``paths`` moved under ``"personal"`` (same nesting).

    ``split_personal({"person": {...}, "household": {"household_id": "h1", "district": "cili"}},
    ["person", "household.household_id"])`` keeps ``household.district`` in clear and stores
    ``{"person": {...}, "household": {"household_id": "h1"}}`` encrypted. Missing paths are
    skipped.
    """
    return move_personal(copy.deepcopy(dict(data)), paths)


def move_personal(data: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """:func:`split_personal` in place, for a dict the caller owns (no deep copy); returns it."""
    personal: dict[str, Any] = dict(data.pop(PERSONAL, None) or {})
    for path in paths:
        *parents, leaf = _split_path(path)
        source: Any = data
        for part in parents:
            source = source.get(part) if isinstance(source, dict) else None
        if not isinstance(source, dict) or leaf not in source:
            continue
        target = personal
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = source.pop(leaf)
    if personal:
        data[PERSONAL] = personal
    return data


@functools.lru_cache(maxsize=256)
def _split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def merge_personal(data: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`split_personal` for reading: personal fields put back in place.

    A shredded ``personal`` member merges as nothing, so the result has only the clear fields.
    """
    merged: dict[str, Any] = copy.deepcopy({k: v for k, v in data.items() if k != PERSONAL})
    personal = data.get(PERSONAL)
    if isinstance(personal, Mapping) and not is_shredded(personal):
        _deep_merge(merged, copy.deepcopy(dict(personal)))
    return merged


def merged_part(data: Mapping[str, Any], name: str) -> Any:
    """``merge_personal(data).get(name)`` without copying the rest of ``data``: a reader that
    needs one member (a projection) gets it merged with its personal part, if any.

    The result may share unchanged nested objects with ``data``: do not mutate it.
    """
    value = data.get(name) if name != PERSONAL else None
    personal = data.get(PERSONAL)
    if not isinstance(personal, Mapping) or name not in personal or is_shredded(personal):
        return value
    extra = personal[name]
    if isinstance(value, dict) and isinstance(extra, Mapping):
        return _merged(value, extra)
    return extra


def _merged(target: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """``_deep_merge`` into a copy of ``target`` (copying only what the merge changes)."""
    result = dict(target)
    for key, value in source.items():
        existing = result.get(key)
        if isinstance(existing, dict) and isinstance(value, Mapping):
            result[key] = _merged(existing, value)
        else:
            result[key] = value
    return result


def _deep_merge(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        existing = target.get(key)
        if isinstance(existing, dict) and isinstance(value, Mapping):
            _deep_merge(existing, value)
        else:
            target[key] = value

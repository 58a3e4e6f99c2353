"""Stream keys, personal-field encryption, key material from settings (no database)."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from outreach.infra.settings import load_settings
from outreach.store.personal_data import (
    SHREDDED,
    DataKey,
    DataKeys,
    KeyRing,
    encrypt_personal,
    load_keyring,
    merge_personal,
    merged_part,
    split_personal,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_stream_key_is_a_keyed_hash_not_the_id() -> None:
    ring = KeyRing(b"k" * 32, os.urandom(32))
    key = ring.stream_key("430802-0001")
    assert len(key) == 64 and "430802" not in key
    assert key == ring.stream_key("430802-0001") != ring.stream_key("430802-0002")
    assert KeyRing(b"x" * 32, os.urandom(32)).stream_key("430802-0001") != key


def test_personal_fields_round_trip_and_are_bound_to_their_event() -> None:
    keys = DataKeys(KeyRing(os.urandom(32), os.urandom(32)))
    key_id = uuid.uuid4()
    data_key = DataKey(key_id, os.urandom(32))
    wrapped = keys.keyring.wrap("s1", key_id, data_key.key)
    event_id = uuid.uuid4()
    stored = encrypt_personal(data_key, "s1", event_id, {"name": "张三"})
    assert "张三" not in str(stored)
    assert keys.decrypt("s1", event_id, stored, key_id, wrapped) == {"name": "张三"}
    assert keys.decrypt("s1", event_id, stored, None, None) == dict(SHREDDED)
    with pytest.raises(ValueError, match="does not decrypt"):
        keys.decrypt("s1", uuid.uuid4(), stored, key_id, wrapped)  # moved to another event
    with pytest.raises(ValueError, match="does not decrypt"):
        keys.decrypt("s2", event_id, stored, key_id, wrapped)  # or another household


def test_split_and_merge_personal() -> None:
    data = {
        "household": {"household_id": "h1", "district": "cili"},
        "person": {"name": "王芳", "id_number": "x"},
        "fact": {"kind": "income"},
    }
    stored = split_personal(data, ["person", "household.household_id", "members"])
    assert stored == {
        "household": {"district": "cili"},
        "fact": {"kind": "income"},
        "personal": {"person": data["person"], "household": {"household_id": "h1"}},
    }
    assert merge_personal(stored) == data
    assert merge_personal({**stored, "personal": dict(SHREDDED)}) == {
        "household": {"district": "cili"},
        "fact": {"kind": "income"},
    }
    assert data["household"] == {"household_id": "h1", "district": "cili"}  # input untouched


def test_keys_from_settings_or_a_stable_dev_file(tmp_path: Path) -> None:
    hmac_key, data_key = os.urandom(32), os.urandom(32)
    configured = load_settings(
        OUTREACH_STATE_DIR=tmp_path,
        OUTREACH_HMAC_KEY=b64(hmac_key),
        OUTREACH_DATA_KEY=b64(data_key),
    )
    assert load_keyring(configured).stream_key("h") == KeyRing(hmac_key, data_key).stream_key("h")
    assert not (tmp_path / "keys").exists()

    dev = load_settings(OUTREACH_STATE_DIR=tmp_path, OUTREACH_HMAC_KEY="", OUTREACH_DATA_KEY="")
    first = load_keyring(dev).stream_key("h")
    assert load_keyring(dev).stream_key("h") == first  # same file, same keys
    assert (tmp_path / "keys" / "dev-keys.json").stat().st_mode & 0o077 == 0


def test_bad_key_material_is_rejected() -> None:
    with pytest.raises(ValidationError, match="OUTREACH_DATA_KEY"):
        load_settings(OUTREACH_DATA_KEY=b64(os.urandom(16)))
    with pytest.raises(ValidationError, match="OUTREACH_HMAC_KEY"):
        load_settings(OUTREACH_HMAC_KEY="not base64 !!")


@pytest.mark.parametrize(
    "data",
    [
        {"fact": {"kind": "vehicle"}, "household": {"district": "cili"}},
        {
            "fact": {"kind": "vehicle", "nested": {"a": 1}},
            "household": {"district": "cili"},
            "personal": {"fact": {"detail": "湘G", "nested": {"b": 2}}, "person": {"n": 1}},
        },
        {"fact": {"kind": "x"}, "personal": {"fact": "not an object"}},
        {"fact": "text", "personal": {"fact": {"detail": 1}}},
        {"personal": {"fact": {"kind": "only personal"}}},
        {"fact": {"kind": "x"}, "personal": {"shredded": True}},
        {"fact": {"kind": "x"}, "personal": "garbage"},
        {"personal": {"personal": {"x": 1}}},
    ],
)
def test_merged_part_is_one_member_of_merge_personal(data: dict[str, object]) -> None:
    before = repr(data)
    for name in ("fact", "household", "person", "personal", "missing"):
        assert merged_part(data, name) == merge_personal(data).get(name)
    assert repr(data) == before  # the input is not modified

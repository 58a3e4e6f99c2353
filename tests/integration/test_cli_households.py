"""``outreach households shred``: the household's personal fields become unreadable, its events
and figures stay."""

from __future__ import annotations

import json

import pytest

from outreach.events import samples as s
from outreach.events import validate_inbound
from outreach.infra.settings import Settings
from outreach.ingest.storage import EventStoreIngest
from outreach.store.event_store import EventStore
from tests.case_support import new_household
from tests.support import shred


async def test_shred_makes_personal_fields_unreadable_once(
    settings: Settings, store: EventStore, capsys: pytest.CaptureFixture[str]
) -> None:
    household_id, id_number = new_household("wulingyuan")
    event = validate_inbound(
        s.certificate_issued(household_id=household_id, id_number=id_number, grade=1)
    )
    await EventStoreIngest(store).store_events([event])
    stream = store.stream_key(household_id)
    [before] = await store.read_stream(stream)
    assert before.personal is not None and before.personal["person"]["id_number"] == id_number

    assert await shred(settings, capsys, household_id) == 2  # no --yes: nothing happens
    assert "--yes" in capsys.readouterr().err
    assert (await store.read_stream(stream))[0].personal is not None

    assert await shred(settings, capsys, household_id, "--yes", "--json") == 0
    # (without main(), structlog writes to stdout too: the JSON result is the last line)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result == {"household": stream, "shredded": True}
    [after] = await store.read_stream(stream)
    assert after.shredded and after.personal is None
    assert after.data["certificate"]["grade"] == before.data["certificate"]["grade"]

    assert await shred(settings, capsys, household_id, "--yes") == 1  # nothing left to shred
    assert "no data key" in capsys.readouterr().out

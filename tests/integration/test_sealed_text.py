"""Free text reaches Temporal only sealed (``outreach.store.sealed_text``): a visit's notes are
in the update's payload as ciphertext under the household's data key, in the event store in clear
(inside the encrypted ``personal`` member), and unreadable everywhere once the household is
shredded."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from temporalio.client import Client

from outreach.cases.access import local_operator
from outreach.cases.commands import VisitResultIn, complete_task
from outreach.store.event_store import EventStore
from outreach.store.sealed_text import SealedTextError, open_personal, open_text, seal
from outreach.workflows.case_contract import Stage, is_sealed
from tests.api_support import project_all
from tests.case_support import case_rig

NOTE = "户主肾移植术后卧床，妻子务农，两个孩子上学"  # noqa: RUF001 (Chinese punctuation)


async def test_sealed_text_opens_for_its_household_until_shredded(
    store: EventStore, unique: str
) -> None:
    stream = store.stream_key(f"sealed-{unique}")
    other = store.stream_key(f"other-{unique}")
    sealed = await seal(store, stream, NOTE)
    assert is_sealed(sealed) and NOTE not in sealed
    assert await seal(store, stream, NOTE) != sealed  # a fresh nonce each time
    assert await open_text(store, stream, sealed) == NOTE
    assert await open_text(store, stream, "plain words") == "plain words"
    assert await seal(store, stream, "") == ""

    await seal(store, other, "x")  # the other household has a key of its own
    assert await open_text(store, other, sealed) is None  # not its key
    tampered = sealed[:-6] + ("AAAA" if not sealed.endswith("AAAA==") else "BBBB") + "=="
    with pytest.raises(SealedTextError):
        await open_text(store, stream, tampered)
    with pytest.raises(SealedTextError):
        await open_text(store, stream, "sealed:v1:not-a-key-id:!!!")

    personal = {"notes": sealed, "other": 3}
    assert await open_personal(store, stream, personal) == {"notes": NOTE, "other": 3}
    assert await store.shred(stream)
    assert await open_text(store, stream, sealed) is None
    assert await open_personal(store, stream, personal) == {"other": 3}


async def test_visit_notes_reach_the_case_history_only_sealed(
    temporal_client: Client, store: EventStore
) -> None:
    async with case_rig(temporal_client, store) as rig:
        opened = await rig.hospital_case("cili")
        await project_all(store)
        body = VisitResultIn(
            visited_on=await rig.today(),
            found=True,
            household_size=4,
            monthly_income_total=Decimal(800),
            labor_capacity="none",
            consent_to_check=True,
            notes=NOTE,
        )
        await complete_task(temporal_client, store, local_operator(), opened.task_id, body)
        await rig.until(
            opened.handle, lambda st: st.stage not in {Stage.VISIT, Stage.VERIFY}, what="decided"
        )

        history = await opened.handle.fetch_history()
        sent = [
            json.loads(payload.data)
            for event in history.events
            if event.HasField("workflow_execution_update_accepted_event_attributes")
            for payload in (
                event.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads
            )
        ]
        assert len(sent) == 1
        assert is_sealed(sent[0]["notes"])
        assert NOTE not in history.to_json()
        assert NOTE.encode() not in b"".join(
            p.data
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
            for ps in e.marker_recorded_event_attributes.details.values()
            for p in ps.payloads
        )

        [completed] = [
            data
            for kind, data in await rig.events(opened.household_key, opened.case_id)
            if kind == "VisitCompleted"
        ]
        assert completed["personal"] == {"notes": NOTE}

        await store.shred(opened.household_key)
        assert await open_text(store, opened.household_key, sent[0]["notes"]) is None

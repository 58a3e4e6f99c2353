"""Replay the committed case histories with today's workflow code.

A change to ``OutreachCase`` or ``AnnualReview`` that would make a running case take a
different path than its history says (a nondeterminism error on the workers) fails here, in
CI, before it reaches a worker. The histories come from the integration tests' scenarios
(see ``tests/replay/recording.py`` for how to re-record them).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from outreach.workflows.annual_review import AnnualReview
from outreach.workflows.outreach_case import OutreachCase
from tests.replay.recording import HISTORIES

EXPECTED = {
    "case_enrolled_yongding",
    "case_nursing_subsidy",
    "case_unreachable",
    "case_overdue_declined",
    "case_objection_not_eligible",
    "case_objection_enrolled",
    "case_trigger_joined",
    "case_next_case.run1",
    "case_continued.run1",
    "case_withdrawn",
    "case_screened_out",
    "annual_review",
}


def _load() -> list[WorkflowHistory]:
    histories = []
    # histories/*.json: recorded with the current code; histories/v1/: recorded before the
    # workflow's first change (``COMMIT_ACCEPTED_PATCH``), histories/v2/: before its second
    # (``REGULAR_ACTIVITIES_PATCH``), kept so running cases still replay
    for path in sorted(HISTORIES.rglob("*.json")):
        document = json.loads(path.read_text())
        histories.append(WorkflowHistory.from_json(document["workflow_id"], document["history"]))
    return histories


def test_the_representative_histories_are_committed() -> None:
    names = {path.name.removesuffix(".json") for path in HISTORIES.glob("*.json")}
    missing = EXPECTED - names
    assert not missing, f"histories missing (re-record, see recording.py): {sorted(missing)}"


async def test_recorded_histories_replay_with_current_code() -> None:
    histories = _load()
    if not histories:
        pytest.fail("no recorded histories under tests/replay/histories")

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayer = Replayer(
        workflows=[OutreachCase, AnnualReview], data_converter=pydantic_data_converter
    )
    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    failures = {run_id: str(error) for run_id, error in results.replay_failures.items()}
    assert not failures, failures


def _is_local_activity(event: dict[str, Any]) -> bool:
    marker = event.get("markerRecordedEventAttributes", {}).get("markerName")
    return bool(marker == "core_local_activity")


def test_effects_reach_history_before_updates_act_or_runs_end() -> None:
    """``COMMIT_ACCEPTED_PATCH``, checked on every history recorded with the current code:

    * after an update is accepted, the workflow task ends before a local activity acts on it;
    * the workflow task that ends a run (completes, continues as new) runs no local activity.

    Either way, a task completion the server refuses (a signal arrived meanwhile) cannot leave
    events in the event store that the case's history does not have.
    """
    accepted = ended = 0
    for path in sorted(HISTORIES.glob("*.json")):
        events = json.loads(path.read_text())["history"]["events"]
        for i, event in enumerate(events):
            kind = event["eventType"]
            if kind == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
                accepted += 1
                after = [
                    e
                    for e in events[i + 1 :]
                    if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"
                    or _is_local_activity(e)
                ]
                assert after and not _is_local_activity(after[0]), (
                    f"{path.name}: event {event['eventId']}: a local activity ran in the "
                    "workflow task that accepted the update"
                )
            elif kind in _RUN_ENDS:
                ended += 1
                task_start = max(
                    j
                    for j in range(i)
                    if events[j]["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"
                )
                assert not any(_is_local_activity(e) for e in events[task_start:i]), (
                    f"{path.name}: the workflow task that ended the run ran a local activity"
                )
    assert accepted >= 5 and ended >= 5, "too few updates or run ends in the recorded histories"


_RUN_ENDS = frozenset(
    {
        "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
    }
)

"""Replay the committed case histories with today's workflow code.

A change to ``OutreachCase`` or ``AnnualReview`` that would make a running case take a
different path than its history says (a nondeterminism error on the workers) fails here, in
CI, before it reaches a worker. The histories come from the integration tests' scenarios
(see ``tests/replay/recording.py`` for how to re-record them).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

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
    for path in sorted(HISTORIES.glob("*.json")):
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

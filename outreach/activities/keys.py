"""Idempotency keys: every side effect of a case is keyed by the case and its step.

``step_id(case_id, step)`` is ``uuid5(case namespace, step)`` where the case namespace is the
case id itself (a UUID; any other string is first mapped to one). A step name is unique within a
case and the same on every retry and replay (``notice``, ``reminder-2``, ``visit-scheduled-3``,
``decision-1``, ``enrolment``, ``closed`` ...), so a retried activity appends an event the store
already has (a no-op), records a notification the adapter already has, and publishes an
outbound message with the id it had the first time.

Pure: the workflow uses it too (a visit task's id and a decision's id are the ids of the events
that created them).
"""

from __future__ import annotations

import uuid
from typing import Final

__all__ = ["STEP_NAMESPACE", "decision_id", "step_id", "task_id"]

STEP_NAMESPACE: Final = uuid.UUID("3f6b2d0e-7c1a-5e84-9b3d-2a5c8e1f4d60")
"""Maps a case id that is not a UUID to one. Never change it: stored ids derive from it."""


def _case_namespace(case_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(case_id)
    except ValueError:
        return uuid.uuid5(STEP_NAMESPACE, case_id)


def step_id(case_id: str, step: str) -> uuid.UUID:
    """The id of the side effect ``step`` of case ``case_id`` (event id, notification id)."""
    return uuid.uuid5(_case_namespace(case_id), step)


def task_id(case_id: str, number: int) -> str:
    """The id of the case's ``number``-th visit task (= the id of its VisitScheduled event)."""
    return str(step_id(case_id, f"visit-scheduled-{number}"))


def decision_id(case_id: str, number: int) -> str:
    """The id of the case's ``number``-th decision (= its EligibilityAssessed event id)."""
    return str(step_id(case_id, f"decision-{number}"))

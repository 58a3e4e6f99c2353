"""Read models of the case's domain events: ``visit_tasks`` and ``enrolments``.

Projections in the event store's sense (:class:`~outreach.projections.base.Projection`):
applied once per event in the subscription's transaction with its checkpoint, rebuildable from
position 0 with ``outreach.projections.rebuild``. ``outreach worker`` keeps them up to date
(:data:`CASE_PROJECTIONS`); they are also listed in ``outreach.projections.PROJECTIONS``,
so ``outreach projections run|rebuild`` handles them as well (both can run: the checkpoint lock
makes them take turns).

``visit_tasks`` (the caseworkers' inbox, ``GET /api/tasks``): ``VisitScheduled`` opens a task,
``VisitOverdue`` flags it (it stays open), ``VisitCompleted`` / ``VisitCancelled`` close it.

``enrolments`` (what ``AnnualReview`` re-checks): ``EnrollmentFinalized`` adds one,
``EnrollmentReviewed`` moves its next review date, narrows its programmes, or terminates it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, ClassVar, Final

from outreach.infra.log import get_logger
from outreach.projections.base import Projection
from outreach.store.database import Conn
from outreach.store.event_store import RecordedEvent, dumps

__all__ = ["CASE_PROJECTIONS", "EnrolmentsProjection", "VisitTasksProjection", "programmes_of"]

log = get_logger(__name__)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


class VisitTasksProjection(Projection):
    name: ClassVar[str] = "visit_tasks"
    handles: ClassVar[frozenset[str]] = frozenset(
        {"VisitScheduled", "VisitOverdue", "VisitCompleted", "VisitCancelled"}
    )

    async def apply(self, conn: Conn, event: RecordedEvent) -> None:
        data = event.data
        task_id = data.get("task_id")
        if not isinstance(task_id, str):
            log.warning("visit event without task_id", type=event.type, position=event.position)
            return
        if event.type == "VisitScheduled":
            await conn.execute(
                """
                INSERT INTO visit_tasks (task_id, case_id, household, district, kind, attempt,
                                         status, created_at, due_at, last_position)
                VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9)
                ON CONFLICT (task_id) DO NOTHING
                """,
                task_id,
                data.get("case_id"),
                event.stream,
                data.get("district") or "",
                data.get("kind") or "visit",
                int(data.get("attempt") or 1),
                event.occurred_at,
                _time(data.get("due_at")) or event.occurred_at,
                event.position,
            )
        elif event.type == "VisitOverdue":
            await conn.execute(
                """
                UPDATE visit_tasks SET overdue = true, escalated_at = $2, last_position = $3
                WHERE task_id = $1
                """,
                task_id,
                event.occurred_at,
                event.position,
            )
        else:
            completed = event.type == "VisitCompleted"
            await conn.execute(
                """
                UPDATE visit_tasks SET status = $2, found = $3, closed_at = $4, last_position = $5
                WHERE task_id = $1 AND status = 'open'
                """,
                task_id,
                "completed" if completed else "cancelled",
                bool(data.get("found")) if completed else None,
                event.occurred_at,
                event.position,
            )

    async def reset(self, conn: Conn) -> None:
        await conn.execute("DELETE FROM visit_tasks")


class EnrolmentsProjection(Projection):
    name: ClassVar[str] = "enrolments"
    handles: ClassVar[frozenset[str]] = frozenset({"EnrollmentFinalized", "EnrollmentReviewed"})

    async def apply(self, conn: Conn, event: RecordedEvent) -> None:
        data = event.data
        case_id = data.get("case_id")
        if not isinstance(case_id, str):
            log.warning("enrolment event without case_id", position=event.position)
            return
        if event.type == "EnrollmentFinalized":
            await conn.execute(
                """
                INSERT INTO enrolments (case_id, household, district, urban, programmes,
                                        circumstances, status, enrolled_at, next_review_on,
                                        last_position)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, 'active', $7, $8, $9)
                ON CONFLICT (case_id) DO NOTHING
                """,
                case_id,
                event.stream,
                data.get("district") or "",
                bool(data.get("urban")),
                dumps(data.get("programmes") or []),
                dumps(data.get("circumstances") or {}),
                event.occurred_at,
                _date(data.get("next_review_on")) or event.occurred_at.date(),
                event.position,
            )
            return
        terminated = data.get("status") == "terminated"
        await conn.execute(
            """
            UPDATE enrolments SET
                programmes = $2::jsonb,
                status = $3,
                next_review_on = coalesce($4, next_review_on),
                reviewed_at = $5,
                terminated_at = CASE WHEN $3 = 'terminated' THEN $5 ELSE terminated_at END,
                last_position = $6
            WHERE case_id = $1
            """,
            case_id,
            dumps(data.get("programmes") or []),
            "terminated" if terminated else "active",
            _date(data.get("next_review_on")),
            event.occurred_at,
            event.position,
        )

    async def reset(self, conn: Conn) -> None:
        await conn.execute("DELETE FROM enrolments")


CASE_PROJECTIONS: Final[tuple[Projection, ...]] = (VisitTasksProjection(), EnrolmentsProjection())
"""The projections the case workflow's events feed (kept by ``outreach worker``)."""


def programmes_of(value: Any) -> list[dict[str, Any]]:
    """The ``programmes`` column (jsonb, as text or decoded) as a list of award dicts."""
    if isinstance(value, str):
        value = json.loads(value)
    return [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []

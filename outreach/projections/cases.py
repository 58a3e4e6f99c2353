"""The ``cases`` projection: one row per case, for the API's case list and ops' counts.

Domain events of a case are appended to the household's stream by the case workflow's
activities. What this projection expects in their ``data`` (extra keys are ignored; the
household is the event's stream, never a raw id):

============================  =============================================================
type                          data
============================  =============================================================
``CaseOpened``                ``case_id``, ``district``, ``trigger`` (``{"type", "event_id"}``
                              of the agency event), optional ``programmes`` to check
``TriggerJoined``             ``case_id``, ``trigger`` (a later agency event joined the case)
``ReminderSent``              ``case_id``, ``channel`` (sms/phone/letter), ``attempt``
``VisitScheduled``            ``case_id``, ``task_id``, ``due_at``
``VisitCompleted``            ``case_id``, ``task_id``, ``found`` (bool)
``EligibilityAssessed``       ``case_id``, ``eligible`` (bool), ``programmes``, ``trace``
``PublicityStarted``          ``case_id``, ``ends_at``
``ObjectionRaised``           ``case_id``, ``reason``
``EnrollmentFinalized``       ``case_id``, ``programmes`` (the awards, as in the outbound event)
``CaseClosed``                ``case_id``, ``outcome`` (enrolled/not_eligible/declined/
                              unreachable/withdrawn), ``reason``
============================  =============================================================

The case's other domain events (``NoticeSent``, ``VisitOverdue``, ``VisitCancelled``,
``EconomicStatusChecked``, ``ApprovalRequested``, ``ApprovalRecorded``, ``PublicityEnded``,
``CaseWithdrawn``; ``outreach/workflows/case_events.py``) only move ``stage`` and
``updated_at``. A deployment whose ``cases`` rows predate one of these types being followed
brings them up to date with ``outreach projections rebuild cases``.

Every one of them may also carry ``stage`` (overrides the stage below), ``district`` and
``programmes`` (replace the row's values). ``programmes`` is a list of programme names or of
objects with a ``programme`` key; it is stored as given.

Row: ``status`` is ``open`` until ``CaseClosed`` (then ``closed``, with ``outcome`` and
``close_reason``); ``stage`` follows :data:`STAGE_AFTER`; ``opened_at`` / ``updated_at`` /
``closed_at`` are the events' ``occurred_at``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from outreach.infra.log import get_logger
from outreach.projections.base import Projection
from outreach.store.database import Conn
from outreach.store.event_store import RecordedEvent, dumps

__all__ = ["CASE_EVENT_TYPES", "STAGE_AFTER", "CasesProjection"]

STAGE_AFTER: Final[dict[str, str | None]] = {
    "CaseOpened": "screening",
    "TriggerJoined": None,  # no change
    "NoticeSent": None,
    "ReminderSent": "notify",
    "VisitScheduled": "visit",
    "VisitOverdue": None,
    "VisitCompleted": "verify",  # "visit" again when found is false: another attempt
    "VisitCancelled": None,
    "EconomicStatusChecked": None,
    "EligibilityAssessed": "decide",
    "ApprovalRequested": "approval",
    "ApprovalRecorded": None,
    "PublicityStarted": "publicity",
    "ObjectionRaised": "verify",
    "PublicityEnded": None,
    "CaseWithdrawn": None,
    "EnrollmentFinalized": "enrol",
    "CaseClosed": "closed",
}
"""The stage a case is in after each domain event (``None``: unchanged)."""
CASE_EVENT_TYPES: Final = frozenset(STAGE_AFTER)

log = get_logger(__name__)


class CasesProjection(Projection):
    name: ClassVar[str] = "cases"
    handles: ClassVar[frozenset[str]] = CASE_EVENT_TYPES

    async def apply(self, conn: Conn, event: RecordedEvent) -> None:
        data = event.data
        case_id = data.get("case_id")
        if not isinstance(case_id, str) or not case_id:
            log.warning("case event without case_id", type=event.type, position=event.position)
            return
        stage = data.get("stage") or STAGE_AFTER[event.type]
        if event.type == "VisitCompleted" and data.get("found") is False:
            stage = "visit"
        programmes = _json_or_none(data.get("programmes"))
        if event.type == "CaseOpened":
            await conn.execute(
                """
                INSERT INTO cases (case_id, household, status, stage, district, programmes,
                                   opened_at, updated_at, last_position)
                VALUES ($1, $2, 'open', $3, $4, coalesce($5::jsonb, '[]'), $6, $6, $7)
                ON CONFLICT (case_id) DO NOTHING
                """,
                case_id,
                event.stream,
                stage,
                data.get("district"),
                programmes,
                event.occurred_at,
                event.position,
            )
            return
        closing = event.type == "CaseClosed"
        updated = await conn.execute(
            """
            UPDATE cases SET
                stage = coalesce($2, stage),
                district = coalesce($3, district),
                programmes = coalesce($4::jsonb, programmes),
                status = CASE WHEN $5 THEN 'closed' ELSE status END,
                outcome = CASE WHEN $5 THEN $6 ELSE outcome END,
                close_reason = CASE WHEN $5 THEN $7 ELSE close_reason END,
                closed_at = CASE WHEN $5 THEN $8 ELSE closed_at END,
                updated_at = greatest(updated_at, $8),
                last_position = $9
            WHERE case_id = $1
            """,
            case_id,
            stage,
            data.get("district"),
            programmes,
            closing,
            data.get("outcome"),
            data.get("reason"),
            event.occurred_at,
            event.position,
        )
        if updated == "UPDATE 0":
            log.warning("event for an unknown case ignored", type=event.type, case_id=case_id)

    async def reset(self, conn: Conn) -> None:
        await conn.execute("DELETE FROM cases")


def _json_or_none(value: Any) -> str | None:
    return None if value is None else dumps(value)

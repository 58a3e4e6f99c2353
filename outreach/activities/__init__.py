"""Side effects of the case workflows, one module per concern.

- ``screening``: the policy values and household facts a case opens with.
- ``case_records``: appending the case's domain events.
- ``notifications`` (+ ``channels``): messages to households and supervisors.
- ``verification``: the economic-status check against ``household_facts``.
- ``eligibility``: the policy engine's decision, recorded with its trace.
- ``enrolment``: enrolment and closing, with their outbound messages (outbox).
- ``review``: the annual review of enrolled households.

Their read models (``visit_tasks``, ``enrolments``) are projections in
``outreach.projections.case_tasks``.

Every activity is idempotent by a key derived from the case and the step (``keys``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from outreach.activities.case_records import RecordActivities
from outreach.activities.context import ActivityContext
from outreach.activities.eligibility import EligibilityActivities
from outreach.activities.enrolment import EnrolmentActivities
from outreach.activities.notifications import NotificationActivities
from outreach.activities.review import ReviewActivities
from outreach.activities.screening import ScreeningActivities
from outreach.activities.verification import VerificationActivities

__all__ = ["ActivityContext", "case_activities"]


def case_activities(context: ActivityContext) -> list[Callable[..., Any]]:
    """Every activity of ``OutreachCase`` and ``AnnualReview``, bound to ``context``."""
    screening = ScreeningActivities(context)
    records = RecordActivities(context)
    notifications = NotificationActivities(context)
    verification = VerificationActivities(context)
    eligibility = EligibilityActivities(context)
    enrolment = EnrolmentActivities(context)
    review = ReviewActivities(context)
    return [
        screening.gather_screening_inputs,
        records.record_case_events,
        notifications.notify,
        verification.check_economic_status,
        eligibility.assess_eligibility,
        enrolment.finalize_enrolment,
        enrolment.close_case,
        review.due_enrolments,
        review.review_enrolment,
    ]

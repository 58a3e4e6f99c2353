"""``AnnualReview``: re-check enrolled households a year after enrolment, end what lapsed.

Started by a Temporal schedule (``outreach.worker.worker.ensure_review_schedule``, every
``OUTREACH_REVIEW_INTERVAL``, one run at a time). A run reviews every active enrolment whose
``next_review_on`` has come (as of the bureau's date when it starts), a batch at a time in
case-id order, each review an idempotent activity; it continues as new between batches when the
history grows, carrying its position and counts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from outreach.activities.review import ReviewActivities
    from outreach.workflows.clock import local_date
    from outreach.workflows.review_data import (
        DueRequest,
        ReviewRequest,
        ReviewRun,
        ReviewSummary,
    )

__all__ = ["REVIEW_WORKFLOW_TYPE", "AnnualReview"]

REVIEW_WORKFLOW_TYPE = "AnnualReview"
_TIMEOUT = timedelta(seconds=60)
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=2))
_HISTORY_LIMIT = 2000


@workflow.defn(name=REVIEW_WORKFLOW_TYPE)
class AnnualReview:
    @workflow.run
    async def run(self, run: ReviewRun) -> ReviewSummary:
        as_of = run.as_of or local_date(workflow.now())
        after = run.after_case_id
        reviewed, continued, terminated = run.reviewed, run.continued, run.terminated
        while True:
            due = await workflow.execute_activity_method(
                ReviewActivities.due_enrolments,
                DueRequest(as_of=as_of, after_case_id=after, limit=run.batch_size),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            if not due:
                break
            now = workflow.now()
            outcomes = await asyncio.gather(
                *(
                    workflow.execute_activity_method(
                        ReviewActivities.review_enrolment,
                        ReviewRequest(e.case_id, e.household_key, e.due_on, as_of, now),
                        start_to_close_timeout=_TIMEOUT,
                        retry_policy=_RETRY,
                    )
                    for e in due
                )
            )
            for outcome in outcomes:
                if outcome.status == "skipped":
                    continue
                reviewed += 1
                if outcome.status == "terminated":
                    terminated += 1
                else:
                    continued += 1
            after = due[-1].case_id
            info = workflow.info()
            if (
                info.is_continue_as_new_suggested()
                or info.get_current_history_length() > _HISTORY_LIMIT
            ):
                workflow.continue_as_new(
                    ReviewRun(as_of, after, reviewed, continued, terminated, run.batch_size)
                )
        workflow.logger.info(
            "annual review done",
            extra={"as_of": as_of.isoformat(), "reviewed": reviewed, "terminated": terminated},
        )
        return ReviewSummary(as_of, reviewed, continued, terminated)

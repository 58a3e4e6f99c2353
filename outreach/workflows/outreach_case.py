"""``OutreachCase``: one household's case, from the first agency event to a terminal outcome.

Stages (``case_api.Stage``, search attribute ``OutreachStage``)::

    screening -> notify -> visit -> verify -> decide -> [approval] -> publicity -> enrol -> closed
                              ^         ^                    |             |
                              |         +---- rejected ------+  objection  |
                              |         +----------------------------------+
                              +-- found: false (another attempt)

- **screening**: read the policy values and the household's facts; pick the programmes to check
  (``screening.py``). Nothing to check: closed ``not_eligible`` at once.
- **notify** / **visit**: the first notice (SMS) and a home-visit task go out together. While no
  visit has reached the household, a reminder follows every ``reminder_interval`` up to
  ``max_reminders``, escalating the channel SMS -> phone task -> letter. A task past its SLA
  (``visit_sla``) is escalated to the district's supervisors and flagged overdue
  (``OutreachOverdue``); it stays open. ``found: false`` opens the next attempt, up to
  ``max_visit_attempts``; when the attempts and the reminders (plus one interval after the
  last) are used up without reaching anyone, the case ends ``unreachable``.
- **verify**: no consent to the check: ``declined``; else the economic-status check.
- **decide**: the policy engine (activity) on the verified circumstances, dated the bureau's
  current date; no new award: ``not_eligible`` with the reasons. Means-tested awards wait for a
  supervisor's approval (``approval.py``); a rejection re-opens verification.
- **publicity** (公示): ``publicity`` long; an objection re-opens verification (a reverify
  task, then a new decision and a new publicity period).
- **enrol**: EnrollmentFinalized (outbox ``outreach.enrollments``), the household is told, and
  the case closes ``enrolled``. Every close records CaseClosed (outbox ``outreach.cases``).
  A withdrawal (update) closes it ``withdrawn`` at any stage before enrolment.

Input: triggers by signal (deduplicated by event id, carried over continue-as-new); visit
results, objections, approvals and withdrawals by validated update (a rejected update never
enters history); ``status`` and ``triggers`` queries. Handlers only queue input; the main loop
does all the work, one item at a time, so state changes happen in one place. A trigger joining
before the decision is recorded and re-screened; one joining after it is recorded, and when the
case closes such triggers open the household's next case (continue-as-new with a new case id).

History: the loop continues as new when Temporal suggests it or the history passes the policy's
``history_limit``, carrying :class:`CaseState` (deadlines are absolute, so timers resume exactly).
No personal data enters the history: households are keyed hashes, visits are figures; a visit's
free-text notes are stripped from the state and stored only encrypted in the event store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from outreach.activities.case_records import RecordActivities
    from outreach.activities.eligibility import EligibilityActivities
    from outreach.activities.enrolment import EnrolmentActivities
    from outreach.activities.keys import decision_id, task_id
    from outreach.activities.notifications import NotificationActivities
    from outreach.activities.screening import ScreeningActivities
    from outreach.activities.verification import VerificationActivities
    from outreach.workflows import case_events as ev
    from outreach.workflows.approval import approval_rule
    from outreach.workflows.case_circumstances import circumstances_for
    from outreach.workflows.case_contract import (
        APPROVAL_UPDATE,
        OBJECTION_UPDATE,
        STATUS_QUERY,
        TRIGGER_SIGNAL,
        TRIGGERS_QUERY,
        VISIT_RESULT_UPDATE,
        WITHDRAWAL_UPDATE,
        WORKFLOW_TYPE,
        Approval,
        AwardStatus,
        CaseOutcome,
        CaseStart,
        CaseStatus,
        DecisionStatus,
        Objection,
        Stage,
        TaskStatus,
        Trigger,
        UpdateAck,
        VisitResult,
        Withdrawal,
        case_id_for_trigger,
    )
    from outreach.workflows.case_data import (
        AssessRequest,
        CaseClosing,
        CasePolicy,
        DomainEvent,
        EconomicCheckRequest,
        Enrolment,
        Notice,
        RecordEvents,
        ScreeningRequest,
    )
    from outreach.workflows.case_state import (
        CaseInput,
        CaseResume,
        CaseState,
        Decided,
        OpenTask,
        Pending,
    )
    from outreach.workflows.clock import local_date
    from outreach.workflows.screening import OPENING_TYPES, screen
    from outreach.workflows.visit_validation import visit_result_problems

__all__ = [
    "DISTRICT_KEY",
    "ESCALATION",
    "OVERDUE_KEY",
    "STAGE_KEY",
    "OutreachCase",
]

STAGE_KEY = SearchAttributeKey.for_keyword("OutreachStage")
DISTRICT_KEY = SearchAttributeKey.for_keyword("OutreachDistrict")
OVERDUE_KEY = SearchAttributeKey.for_bool("OutreachOverdue")
KEYWORD_BYTES = 1000
"""Most UTF-8 bytes of a Keyword search attribute value we upsert: Temporal terminates a
workflow whose value passes its limit (2,048 bytes by default). Ingest bounds a district to 100
characters (at most 400 bytes), so only a value that bypassed it is ever cut."""


def keyword(value: str) -> str:
    """``value`` cut to :data:`KEYWORD_BYTES` on a character boundary (deterministic)."""
    encoded = value.encode("utf-8", "replace")
    if len(encoded) <= KEYWORD_BYTES:
        return value
    return encoded[:KEYWORD_BYTES].decode("utf-8", "ignore")


ESCALATION = ("sms", "phone", "letter")
"""Reminder channels in order; reminders past the last use the last."""

ACTIVITY_TIMEOUT = timedelta(seconds=60)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
)

UNREACHABLE = "unreachable"
DECLINED = "declined"
NOT_ELIGIBLE = "not_eligible"
ENROLLED = "enrolled"
WITHDRAWN = "withdrawn"

# Workflow change (``workflow.patched``): a human's input is committed to history before the
# case acts on it, and the case's work before its run ends (see ``OutreachCase._commit``).
# Cases whose histories predate it replay without the commit steps.
COMMIT_ACCEPTED_PATCH = "commit-accepted-input"

# Workflow change: the steps run as regular activities, no longer as local ones. A local
# activity retried past the workflow task timeout (screening while Postgres was down) keeps its
# task alive with heartbeat tasks; the first execution goes on at the last heartbeat task's
# time, but a replay takes the heartbeats as one task and goes on at the first one's time. The
# deadline checks then differ: the first execution sent a reminder the replay did not, so every
# replay (after a kill, a restart, a cache eviction) met that reminder's marker with no command
# for it ("[TMPRL1100] Nondeterminism error: Missing associated machine for LocalActivity(4)")
# and the case was stuck for good (tests/integration/test_case_stuck.py). And a local
# activity's effects are in the store before the task that records them completes. A regular
# activity completes as an event of its own, followed by a task whose time every replay sees.
# Cases whose histories predate it keep their local activities (replay).
REGULAR_ACTIVITIES_PATCH = "regular-activities"

_S = TypeVar("_S")
_A = TypeVar("_A")
_R = TypeVar("_R")


@workflow.defn(name=WORKFLOW_TYPE)
class OutreachCase:
    @workflow.init
    def __init__(self, start: CaseStart | CaseResume) -> None:
        if isinstance(start, CaseResume):
            self._start, self._s = start.start, start.state
        else:
            self._start, self._s = start, CaseState.new(start)
        self._inbox: list[Pending] = []

    # -- main loop ------------------------------------------------------------------------------
    @workflow.run
    async def run(self, start: CaseStart | CaseResume) -> CaseOutcome:
        s = self._s
        if s.opened_at is None:
            # Signal-with-start delivers the opening trigger before the first line runs; a case
            # started any other way waits for one.
            await workflow.wait_condition(lambda: bool(s.triggers))
            await self._open()
        while s.stage != Stage.CLOSED:
            if not await self._advance():
                await self._idle()
        self._publish_search_attributes()
        return await self._finish()

    async def _advance(self) -> bool:
        """Do the next piece of work, if any is due now. True if something was done."""
        s = self._s
        if s.unrecorded:
            await self._record_joined()
            return True
        if self._inbox:
            if workflow.patched(COMMIT_ACCEPTED_PATCH):
                await self._commit()
            item = self._inbox.pop(0)
            item.ack = await self._handle(item.payload)
            return True
        if s.stage == Stage.VERIFY and s.task is None:
            await self._verify()
            return True
        if s.stage == Stage.DECIDE:
            await self._decide()
            return True
        if s.stage == Stage.PUBLICITY and s.publicity_ends_at is None:
            await self._start_publicity()
            return True
        if s.stage == Stage.ENROL:
            await self._enrol()
            return True
        now = workflow.now()
        if s.task is not None and not s.task.overdue and now >= s.task.due_at:
            await self._escalate_overdue(s.task)
            return True
        if s.stage == Stage.VISIT and s.next_reminder_at is not None and now >= s.next_reminder_at:
            await self._remind()
            return True
        if (
            s.stage == Stage.PUBLICITY
            and s.publicity_ends_at is not None
            and now >= s.publicity_ends_at
        ):
            await self._end_publicity()
            return True
        return False

    @staticmethod
    async def _commit() -> None:
        """End the current workflow task here, so what it did is in history before going on.

        Used (``COMMIT_ACCEPTED_PATCH``) at the two points where a refused task completion
        would otherwise leave effects without a cause:

        * before acting on an update: an update is accepted only when the workflow task that
          ran its validator completes. If that completion is refused (UnhandledCommand: a
          signal arrived while the task was closing the case), the server drops the update and
          its caller gets an error to retry, while the local activities run in that task would
          already have written its events (VisitCompleted ... CaseClosed) to the event store;
        * before the run ends (completes or continues as new): the task that ends it then holds
          no local activity, so a trigger arriving meanwhile makes the server refuse only that
          task, and its retry (which sees the trigger) has written nothing yet.

        A retried task after this point replays the same input and its idempotent steps write
        nothing new. The 1 ms timer costs one extra workflow task per human input and per case.
        """
        await workflow.sleep(timedelta(milliseconds=1), summary="commit")

    def _next_deadline(self) -> datetime | None:
        s = self._s
        deadlines: list[datetime] = []
        if s.task is not None and not s.task.overdue:
            deadlines.append(s.task.due_at)
        if s.stage == Stage.VISIT and s.next_reminder_at is not None:
            deadlines.append(s.next_reminder_at)
        if s.stage == Stage.PUBLICITY and s.publicity_ends_at is not None:
            deadlines.append(s.publicity_ends_at)
        return min(deadlines) if deadlines else None

    def _has_input(self) -> bool:
        return bool(self._inbox or self._s.unrecorded)

    async def _idle(self) -> None:
        """Wait for input or the next deadline; continue as new first if history is long."""
        self._publish_search_attributes()
        if self._history_long():
            await workflow.wait_condition(workflow.all_handlers_finished)
            if workflow.patched(COMMIT_ACCEPTED_PATCH):
                await self._commit()
            if not self._has_input() and workflow.all_handlers_finished():
                s = self._s
                workflow.logger.info(
                    "case continues as new",
                    extra={"case_id": s.case_id, "stage": s.stage.value, "run": s.runs + 1},
                )
                workflow.continue_as_new(CaseResume(self._start, replace(s, runs=s.runs + 1)))
            return
        deadline = self._next_deadline()
        if deadline is None:
            await workflow.wait_condition(self._has_input)
            return
        try:
            await workflow.wait_condition(
                self._has_input,
                timeout=deadline - workflow.now(),
                timeout_summary="next case deadline",
            )
        except TimeoutError:
            pass

    def _history_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._policy.history_limit
        )

    async def _finish(self) -> CaseOutcome:
        s = self._s
        for item in self._inbox:  # accepted just before the case closed
            item.ack = self._ack("the case is closed: nothing changed")
        self._inbox.clear()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if workflow.patched(COMMIT_ACCEPTED_PATCH):
            await self._commit()
            for item in self._inbox:  # accepted while committing
                item.ack = self._ack("the case is closed: nothing changed")
            self._inbox.clear()
            await workflow.wait_condition(workflow.all_handlers_finished)
        # Triggers that came after the decision (or while closing) open the household's next
        # case, under a new case id, in this same workflow id.
        late = [i for i in [*s.late, *s.unrecorded] if s.trigger(i).event_type in OPENING_TYPES]
        if late:
            first = s.trigger(late[0])
            start = CaseStart(
                household_key=s.household_key,
                district=first.district,
                urban=first.urban,
                case_id=case_id_for_trigger(first.event_id),
            )
            following = CaseState.new(start)
            following.seen = list(s.seen)
            following.triggers = [s.trigger(i) for i in late]
            workflow.logger.info(
                "later triggers open the household's next case",
                extra={"case_id": s.case_id, "next_case_id": start.case_id},
            )
            workflow.continue_as_new(CaseResume(start, following))
        assert s.outcome is not None and s.reason is not None
        return CaseOutcome(case_id=s.case_id, outcome=s.outcome, reason=s.reason)

    # -- stages ---------------------------------------------------------------------------------
    async def _open(self) -> None:
        s = self._s
        now = workflow.now()
        s.opened_at = now
        inputs = await self._act(
            ScreeningActivities.gather_screening_inputs,
            ScreeningRequest(s.case_id, s.household_key, s.district, local_date(now)),
        )
        s.policy, s.facts = inputs.policy, inputs.facts
        screening = screen(s.triggers, s.facts, s.policy.medical_trigger)
        s.programmes = screening.programmes
        opening = s.triggers[0]
        # Triggers delivered together with the opening one are recorded as joined.
        s.unrecorded = [t.event_id for t in s.triggers[1:]]
        if not screening.any:
            await self._record(
                ev.case_opened(
                    s.case_id,
                    Stage.SCREENING,
                    s.district,
                    s.urban,
                    opening,
                    (),
                    screening.reasons,
                )
            )
            await self._close(NOT_ELIGIBLE, "screening: " + "; ".join(screening.reasons))
            return
        self._set_stage(Stage.NOTIFY)
        task = self._new_task("visit", attempt=1)
        s.next_reminder_at = now + s.policy.reminder_interval
        await self._record(
            ev.case_opened(
                s.case_id,
                Stage.NOTIFY,
                s.district,
                s.urban,
                opening,
                s.programmes,
                screening.reasons,
            ),
            self._scheduled(task, Stage.VISIT),
        )
        await self._notify(
            "household",
            "sms",
            "notice",
            step="notice",
            params={"programmes": ",".join(s.programmes)},
            event=ev.notice_sent(s.case_id, Stage.VISIT, "sms"),
        )
        self._set_stage(Stage.VISIT)

    async def _remind(self) -> None:
        s = self._s
        if s.reminders_sent < self._policy.max_reminders:
            attempt = s.reminders_sent + 1
            channel = ESCALATION[min(attempt, len(ESCALATION)) - 1]
            await self._notify(
                "household",
                channel,
                "reminder",
                step=f"reminder-{attempt}",
                params={"programmes": ",".join(s.programmes), "attempt": str(attempt)},
                event=ev.reminder_sent(s.case_id, Stage.VISIT, channel, attempt),
            )
            s.reminders_sent = attempt
            s.next_reminder_at = workflow.now() + self._policy.reminder_interval
            return
        # The last reminder went unanswered for a whole interval.
        s.reminders_exhausted = True
        s.next_reminder_at = None
        await self._close_if_unreachable()

    async def _escalate_overdue(self, task: OpenTask) -> None:
        s = self._s
        task.overdue = True
        await self._notify(
            "supervisor",
            "inbox",
            "visit_overdue",
            step=f"visit-overdue-{task.number}",
            params={"task_id": task.task_id, "due_at": task.due_at.isoformat()},
            event=ev.visit_overdue(s.case_id, s.stage, task.task_id, task.number, task.due_at),
        )

    async def _verify(self) -> None:
        s = self._s
        visit = s.visit
        if visit is None:  # (not expected) nothing verified yet: visit again
            task = self._new_task("reverify", attempt=1)
            await self._record(self._scheduled(task, Stage.VERIFY))
            return
        if not visit.consent_to_check:
            await self._close(DECLINED, "no consent to the economic-status check")
            return
        assert visit.household_size is not None and visit.monthly_income_total is not None
        s.check = await self._act(
            VerificationActivities.check_economic_status,
            EconomicCheckRequest(
                case_id=s.case_id,
                household_key=s.household_key,
                step=f"economic-check-{s.decisions + 1}",
                at=workflow.now(),
                household_size=visit.household_size,
                monthly_income_total=visit.monthly_income_total,
                assets=visit.assets,
            ),
        )
        self._set_stage(Stage.DECIDE)

    async def _decide(self) -> None:
        s = self._s
        assert s.visit is not None and s.check is not None
        s.decisions += 1
        number = s.decisions
        now = workflow.now()
        assessment = await self._act(
            EligibilityActivities.assess_eligibility,
            AssessRequest(
                case_id=s.case_id,
                household_key=s.household_key,
                step=f"decision-{number}",
                decision_id=decision_id(s.case_id, number),
                at=now,
                on=local_date(now),
                circumstances=circumstances_for(s.district, s.urban, s.visit, s.check, s.triggers),
            ),
        )
        if not assessment.eligible:
            await self._notify(
                "household",
                "letter",
                "not_eligible",
                step=f"decision-letter-{number}",
                params={"decision_id": assessment.decision_id},
            )
            await self._close(NOT_ELIGIBLE, assessment.summary)
            return
        rule = approval_rule(assessment.awards)
        s.decided = Decided(assessment, rule.required, rule.reason)
        if not rule.required:
            self._set_stage(Stage.PUBLICITY)
            return
        self._set_stage(Stage.APPROVAL)
        await self._notify(
            "supervisor",
            "inbox",
            "approval_request",
            step=f"approval-request-{number}",
            params={"decision_id": assessment.decision_id},
            event=ev.approval_requested(
                s.case_id, Stage.APPROVAL, assessment.decision_id, number, rule.reason
            ),
        )

    async def _start_publicity(self) -> None:
        s = self._s
        assert s.decided is not None
        s.publicity_rounds += 1
        ends_at = workflow.now() + self._policy.publicity
        await self._record(
            ev.publicity_started(
                s.case_id,
                Stage.PUBLICITY,
                s.decided.assessment.decision_id,
                s.publicity_rounds,
                ends_at,
            )
        )
        s.publicity_ends_at = ends_at

    async def _end_publicity(self) -> None:
        s = self._s
        assert s.decided is not None
        self._set_stage(Stage.ENROL)
        await self._record(
            ev.publicity_ended(
                s.case_id, Stage.ENROL, s.decided.assessment.decision_id, s.publicity_rounds
            )
        )

    async def _enrol(self) -> None:
        s = self._s
        assert s.decided is not None
        assessment = s.decided.assessment
        await self._act(
            EnrolmentActivities.finalize_enrolment,
            Enrolment(
                case_id=s.case_id,
                household_key=s.household_key,
                district=s.district,
                urban=s.urban,
                step="enrolment",
                at=workflow.now(),
                assessment=assessment,
                trigger_event_ids=tuple(s.seen),
            ),
        )
        await self._notify(
            "household",
            "letter",
            "enrolled",
            step="enrolled-letter",
            params={
                "decision_id": assessment.decision_id,
                "programmes": ",".join(a.programme for a in assessment.awards),
            },
        )
        await self._close(ENROLLED, assessment.summary)

    async def _close(
        self, outcome: str, reason: str, *, first: tuple[DomainEvent, ...] = ()
    ) -> None:
        s = self._s
        extra: list[DomainEvent] = list(first)
        if s.task is not None:
            extra.append(
                ev.visit_cancelled(
                    s.case_id, Stage.CLOSED, s.task.task_id, s.task.number, f"case {outcome}"
                )
            )
        await self._act(
            EnrolmentActivities.close_case,
            CaseClosing(
                case_id=s.case_id,
                household_key=s.household_key,
                step="closed",
                at=workflow.now(),
                outcome=outcome,
                reason=reason,
                trigger_event_ids=tuple(s.seen),
                extra=tuple(extra),
            ),
        )
        s.task = None
        s.next_reminder_at = None
        s.outcome, s.reason = outcome, reason
        self._set_stage(Stage.CLOSED)
        workflow.logger.info(
            "case closed", extra={"case_id": s.case_id, "outcome": outcome, "reason": reason}
        )

    async def _close_if_unreachable(self) -> None:
        s = self._s
        if (
            not s.reached
            and s.reminders_exhausted
            and s.task is None
            and s.failed_attempts >= self._policy.max_visit_attempts
        ):
            await self._close(
                UNREACHABLE,
                f"nobody reached after {s.failed_attempts} visit attempt(s) and"
                f" {s.reminders_sent} reminder(s)",
            )

    # -- input ----------------------------------------------------------------------------------
    async def _handle(self, payload: CaseInput) -> UpdateAck:
        if isinstance(payload, VisitResult):
            return await self._visit_result(payload)
        if isinstance(payload, Objection):
            return await self._objection(payload)
        if isinstance(payload, Approval):
            return await self._approval(payload)
        return await self._withdrawal(payload)

    async def _visit_result(self, result: VisitResult) -> UpdateAck:
        s = self._s
        task = s.task
        if task is None or task.task_id != result.task_id:
            return self._ack("no open task with this id any more: nothing changed")
        s.task = None
        completed = ev.visit_completed(
            s.case_id,
            Stage.VERIFY if result.found else s.stage,
            result,
            task.attempt,
            task.number,
        )
        if result.found:
            s.reached = True
            s.next_reminder_at = None
            s.visit = replace(result, notes="")  # free text stays out of the case's state
            s.check = None
            self._set_stage(Stage.VERIFY)
            await self._record(completed)
            return self._ack("visit recorded: verification follows")
        if task.kind == "visit":
            s.failed_attempts += 1
        events = [completed]
        following: OpenTask | None = None
        if task.kind == "reverify" or s.failed_attempts < self._policy.max_visit_attempts:
            following = self._new_task(task.kind, attempt=task.attempt + 1)
            events.append(self._scheduled(following, s.stage))
        await self._record(*events)
        if following is not None:
            return self._ack(
                f"nobody found: attempt {following.attempt} scheduled", following.task_id
            )
        await self._close_if_unreachable()
        return self._ack("nobody found and no visit attempts left")

    async def _objection(self, objection: Objection) -> UpdateAck:
        s = self._s
        if s.stage != Stage.PUBLICITY or objection.objection_id in s.objections:
            return self._ack("not under publicity any more: nothing changed")
        s.objections.append(objection.objection_id)
        task = self._reopen_verification()
        await self._record(
            ev.objection_raised(s.case_id, Stage.VERIFY, objection),
            self._scheduled(task, Stage.VERIFY),
        )
        return self._ack("objection recorded: verification re-opened", task.task_id)

    async def _approval(self, approval: Approval) -> UpdateAck:
        s = self._s
        decided = s.decided
        if s.stage != Stage.APPROVAL or decided is None:
            return self._ack("no decision awaits approval any more: nothing changed")
        recorded = ev.approval_recorded(
            s.case_id,
            Stage.PUBLICITY if approval.approved else Stage.VERIFY,
            decided.assessment.decision_id,
            s.decisions,
            approval.approved,
            approval.supervisor,
            approval.comment,
        )
        if approval.approved:
            decided.approved_by = approval.supervisor
            self._set_stage(Stage.PUBLICITY)
            await self._record(recorded)
            return self._ack("approved: publicity follows")
        task = self._reopen_verification()
        await self._record(recorded, self._scheduled(task, Stage.VERIFY))
        return self._ack("approval refused: verification re-opened", task.task_id)

    async def _withdrawal(self, withdrawal: Withdrawal) -> UpdateAck:
        if self._s.stage in (Stage.ENROL, Stage.CLOSED):
            return self._ack("the case is past withdrawal: nothing changed")
        await self._close(
            WITHDRAWN,
            "withdrawn by the household",
            first=(ev.case_withdrawn(self._s.case_id, Stage.CLOSED, withdrawal),),
        )
        return self._ack("case withdrawn")

    async def _record_joined(self) -> None:
        s = self._s
        event_id = s.unrecorded[0]
        trigger = s.trigger(event_id)
        before_decision = s.decided is None and s.stage in (
            Stage.SCREENING,
            Stage.NOTIFY,
            Stage.VISIT,
            Stage.VERIFY,
        )
        programmes: tuple[str, ...] | None = None
        if before_decision:
            inputs = await self._act(
                ScreeningActivities.gather_screening_inputs,
                ScreeningRequest(
                    s.case_id, s.household_key, s.district, local_date(workflow.now())
                ),
            )
            s.facts = inputs.facts
            programmes = screen(s.triggers, s.facts, self._policy.medical_trigger).programmes
            s.programmes = tuple(dict.fromkeys((*s.programmes, *programmes)))
            programmes = s.programmes
        elif s.stage != Stage.CLOSED:
            s.late.append(event_id)
        if s.stage != Stage.CLOSED:
            await self._record(ev.trigger_joined(s.case_id, s.stage, trigger, programmes))
        s.unrecorded.pop(0)

    # -- handlers -------------------------------------------------------------------------------
    @workflow.signal(name=TRIGGER_SIGNAL)
    def trigger(self, trigger: Trigger) -> None:
        s = self._s
        if trigger.event_id in s.seen:
            return
        s.seen.append(trigger.event_id)
        s.triggers.append(trigger)
        if s.opened_at is not None:
            s.unrecorded.append(trigger.event_id)

    @workflow.query(name=TRIGGERS_QUERY)
    def triggers(self) -> list[str]:
        return list(self._s.seen)

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> CaseStatus:
        s = self._s
        decision: DecisionStatus | None = None
        if s.decided is not None:
            a = s.decided.assessment
            decision = DecisionStatus(
                decision_id=a.decision_id,
                decided_on=a.decided_on,
                eligible=a.eligible,
                awards=tuple(
                    AwardStatus(w.programme, w.monthly_amount, w.one_off_amount, w.effective_from)
                    for w in a.awards
                ),
                approval_required=s.decided.approval_required,
                approval_reason=s.decided.approval_reason,
                approved_by=s.decided.approved_by,
            )
        task = s.task
        return CaseStatus(
            case_id=s.case_id,
            household_key=s.household_key,
            district=s.district,
            stage=s.stage,
            outcome=s.outcome,
            reason=s.reason,
            opened_at=s.opened_at,
            programmes=s.programmes,
            triggers=tuple(s.seen),
            reminders_sent=s.reminders_sent,
            visit_attempts=s.failed_attempts + (1 if s.reached else 0),
            open_task=None
            if task is None
            else TaskStatus(
                task.task_id, task.kind, task.attempt, task.created_at, task.due_at, task.overdue
            ),
            overdue=s.overdue,
            awaiting=self._awaiting(),
            decision=decision,
            publicity_ends_at=s.publicity_ends_at if s.stage == Stage.PUBLICITY else None,
            objections=len(s.objections),
            run_count=s.runs,
        )

    def _awaiting(self) -> str | None:
        s = self._s
        if s.task is not None:
            return "visit_result"
        if s.stage == Stage.APPROVAL:
            return "approval"
        if s.stage == Stage.PUBLICITY:
            return "publicity_end"
        return None

    @workflow.update(name=VISIT_RESULT_UPDATE)
    async def complete_visit(self, result: VisitResult) -> UpdateAck:
        return await self._submit(result)

    @complete_visit.validator
    def _check_visit(self, result: VisitResult) -> None:
        s = self._s
        self._require_open()
        task = s.task
        if task is None:
            raise ValueError("the case has no open visit task")
        if result.task_id != task.task_id:
            raise ValueError(f"task {result.task_id} is not the case's open task")
        if any(
            isinstance(p.payload, VisitResult) and p.payload.task_id == task.task_id
            for p in self._inbox
        ):
            raise ValueError("a result for this task is already being recorded")
        assert s.opened_at is not None
        problems = visit_result_problems(
            result, local_date(workflow.now()), local_date(s.opened_at)
        )
        if problems:
            raise ValueError("; ".join(problems))

    @workflow.update(name=OBJECTION_UPDATE)
    async def raise_objection(self, objection: Objection) -> UpdateAck:
        return await self._submit(objection)

    @raise_objection.validator
    def _check_objection(self, objection: Objection) -> None:
        s = self._s
        self._require_open()
        if s.stage != Stage.PUBLICITY:
            raise ValueError(f"objections are taken during publicity; the case is in {s.stage}")
        if not objection.objection_id.strip() or not objection.summary.strip():
            raise ValueError("an objection needs an objection_id and a summary")
        pending = [p.payload for p in self._inbox if isinstance(p.payload, Objection)]
        if objection.objection_id in s.objections or pending:
            raise ValueError("this objection is already recorded")

    @workflow.update(name=APPROVAL_UPDATE)
    async def approve(self, approval: Approval) -> UpdateAck:
        return await self._submit(approval)

    @approve.validator
    def _check_approval(self, approval: Approval) -> None:
        s = self._s
        self._require_open()
        if s.stage != Stage.APPROVAL or s.decided is None:
            raise ValueError(f"no decision awaits approval; the case is in {s.stage}")
        expected = s.decided.assessment.decision_id
        if approval.decision_id is not None and approval.decision_id != expected:
            raise ValueError(f"decision {approval.decision_id} is not the one awaiting approval")
        if not approval.supervisor.strip():
            raise ValueError("an approval needs the supervisor's id")
        if any(isinstance(p.payload, Approval) for p in self._inbox):
            raise ValueError("an approval for this decision is already being recorded")

    @workflow.update(name=WITHDRAWAL_UPDATE)
    async def withdraw(self, withdrawal: Withdrawal) -> UpdateAck:
        return await self._submit(withdrawal)

    @withdraw.validator
    def _check_withdrawal(self, withdrawal: Withdrawal) -> None:
        self._require_open()
        if self._s.stage == Stage.ENROL:
            raise ValueError("the case is being enrolled: too late to withdraw")
        if not withdrawal.reason.strip() or not withdrawal.recorded_by.strip():
            raise ValueError("a withdrawal needs a reason and who recorded it")

    def _require_open(self) -> None:
        if self._s.stage == Stage.CLOSED or self._s.opened_at is None:
            raise ValueError(f"the case is {self._s.stage}")

    async def _submit(self, payload: CaseInput) -> UpdateAck:
        item = Pending(payload)
        self._inbox.append(item)
        await workflow.wait_condition(lambda: item.ack is not None)
        assert item.ack is not None
        return item.ack

    # -- helpers --------------------------------------------------------------------------------
    @property
    def _policy(self) -> CasePolicy:
        assert self._s.policy is not None, "the case has not been screened yet"
        return self._s.policy

    def _ack(self, detail: str, task: str | None = None) -> UpdateAck:
        return UpdateAck(case_id=self._s.case_id, stage=self._s.stage, detail=detail, task_id=task)

    def _set_stage(self, stage: Stage) -> None:
        s = self._s
        if s.stage == stage:
            return
        s.stage = stage
        workflow.logger.info("case stage", extra={"case_id": s.case_id, "stage": stage.value})

    def _publish_search_attributes(self) -> None:
        """Bring ``OutreachStage``, ``OutreachDistrict`` and ``OutreachOverdue`` up to date.

        Called whenever the case is about to wait (and when it ends), so the steps of one
        workflow task cost one upsert, not one per stage passed through.
        """
        s = self._s
        current = workflow.info().typed_search_attributes
        wanted: list[SearchAttributeUpdate[Any]] = [
            STAGE_KEY.value_set(s.stage.value),
            DISTRICT_KEY.value_set(keyword(s.district)),
            OVERDUE_KEY.value_set(s.overdue),
        ]
        changed = [u for u in wanted if current.get(u.key) != u.value]
        if changed:
            workflow.upsert_search_attributes(changed)

    def _new_task(self, kind: str, attempt: int) -> OpenTask:
        s = self._s
        s.tasks_opened += 1
        now = workflow.now()
        task = OpenTask(
            task_id=task_id(s.case_id, s.tasks_opened),
            kind=kind,
            attempt=attempt,
            number=s.tasks_opened,
            created_at=now,
            due_at=now + self._policy.visit_sla,
        )
        s.task = task
        return task

    def _reopen_verification(self) -> OpenTask:
        s = self._s
        s.decided = None
        s.check = None
        s.publicity_ends_at = None
        self._set_stage(Stage.VERIFY)
        return self._new_task("reverify", attempt=1)

    def _scheduled(self, task: OpenTask, stage: Stage) -> DomainEvent:
        s = self._s
        return ev.visit_scheduled(
            s.case_id,
            stage,
            task.task_id,
            task.kind,
            task.attempt,
            task.number,
            s.district,
            task.due_at,
        )

    async def _record(self, *events: DomainEvent) -> None:
        s = self._s
        await self._act(
            RecordActivities.record_case_events,
            RecordEvents(s.case_id, s.household_key, workflow.now(), tuple(events)),
        )

    async def _notify(
        self,
        audience: str,
        channel: str,
        template: str,
        *,
        step: str,
        params: dict[str, str],
        event: DomainEvent | None = None,
    ) -> None:
        s = self._s
        await self._act(
            NotificationActivities.notify,
            Notice(
                case_id=s.case_id,
                household_key=s.household_key,
                district=s.district,
                step=step,
                audience=audience,
                channel=channel,
                template=template,
                params=params,
                at=workflow.now(),
                event=event,
            ),
        )

    @staticmethod
    async def _act(fn: Callable[[_S, _A], Awaitable[_R]], arg: _A) -> _R:
        """Run a step's activity (a short Postgres transaction, or a hand-over to the channel
        adapter), idempotent by its step: a re-run after a crash is harmless. A regular
        activity (``REGULAR_ACTIVITIES_PATCH``); cases from before it replay their local
        ones."""
        if workflow.patched(REGULAR_ACTIVITIES_PATCH):
            return await workflow.execute_activity_method(
                fn,
                arg,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
        return await workflow.execute_local_activity_method(
            fn,
            arg,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

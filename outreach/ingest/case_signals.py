"""Handing stored agency events to their households' OutreachCase workflows in Temporal.

* An event that may open a case (``CaseEffect.OPENS``) goes by signal-with-start: Temporal starts
  the household's case if none is running (with :class:`CaseStart`) and delivers the ``trigger``
  signal either way, atomically. A closed case's id is reused by the next case.
* An event that only joins (``JOINS_OPEN``, e.g. a certificate-expiry reminder) is a plain signal
  to the running case; when there is none (NOT_FOUND), the outcome is ``no_open_case``.

Order: one household's triggers are sent one after another in the order given (the order the
events were stored), so its case sees them in that order; different households go concurrently,
at most ``concurrency`` RPCs at a time. Dedupe: the workflow ignores a trigger id it has seen,
and ingest records delivered event ids (``ingest_deliveries``) so a redelivered event is not
sent again at all. A failure of one household does not stop the others: :meth:`deliver` returns
what was delivered and what failed, so a retry resends only the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from outreach.infra.failures import is_permanent
from outreach.infra.log import get_logger
from outreach.infra.temporal import TASK_QUEUE
from outreach.ingest.triggers import case_start_for, workflow_id_for
from outreach.workflows.case_contract import TRIGGER_SIGNAL, WORKFLOW_TYPE, Trigger

__all__ = ["CaseSignal", "CaseSignaller", "Delivered", "DeliveryReport", "Outcome"]

log = get_logger(__name__)


class Outcome(Enum):
    DELIVERED = "delivered"
    """The household's case has the trigger (started by it, or joined)."""
    NO_OPEN_CASE = "no_open_case"
    """A join-only trigger found no running case; nothing was started."""
    REJECTED = "rejected"
    """Temporal refused the request for what it carries (``failures.is_permanent``); logged as
    an error and not sent again, so it cannot hold back the household's later events."""


@dataclass(frozen=True, slots=True)
class CaseSignal:
    trigger: Trigger
    may_open: bool
    """True: signal-with-start. False: signal the running case only."""

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.trigger)


@dataclass(frozen=True, slots=True)
class Delivered:
    event_id: str
    workflow_id: str
    outcome: Outcome


@dataclass(slots=True)
class DeliveryReport:
    delivered: list[Delivered] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)


class CaseSignaller:
    """Sends triggers to case workflows; see the module docstring for order and dedupe."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = TASK_QUEUE,
        concurrency: int = 64,
        rpc_timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._limit = asyncio.Semaphore(concurrency)
        self._rpc_timeout = rpc_timeout

    async def deliver(self, signals: Sequence[CaseSignal]) -> DeliveryReport:
        """Send every signal; per household in order, households concurrently."""
        by_household: dict[str, list[CaseSignal]] = {}
        for signal in signals:
            by_household.setdefault(signal.trigger.household_key, []).append(signal)
        report = DeliveryReport()
        # Longest chains first: a household's signals go one after another, so one that
        # started last with many signals would keep the batch waiting after the rest are done.
        groups = sorted(by_household.values(), key=len, reverse=True)
        await asyncio.gather(*(self._household(group, report) for group in groups))
        return report

    async def _household(self, group: list[CaseSignal], report: DeliveryReport) -> None:
        async with self._limit:
            for signal in group:
                try:
                    outcome = await self._send(signal)
                except Exception as exc:
                    if not is_permanent(exc):  # the rest of this household waits for the retry
                        report.failures.append(exc)
                        return
                    log.error(
                        "case refused the event; not sent again",
                        household=signal.trigger.household_key,
                        event_type=signal.trigger.event_type,
                        error=repr(exc)[:300],
                    )
                    outcome = Outcome.REJECTED
                report.delivered.append(
                    Delivered(signal.trigger.event_id, signal.workflow_id, outcome)
                )

    async def _send(self, signal: CaseSignal) -> Outcome:
        trigger = signal.trigger
        if signal.may_open:
            await self._client.start_workflow(
                WORKFLOW_TYPE,
                case_start_for(trigger),
                id=signal.workflow_id,
                task_queue=self._task_queue,
                start_signal=TRIGGER_SIGNAL,
                start_signal_args=[trigger],
                rpc_timeout=self._rpc_timeout,
            )
            return Outcome.DELIVERED
        handle = self._client.get_workflow_handle(signal.workflow_id)
        try:
            await handle.signal(TRIGGER_SIGNAL, trigger, rpc_timeout=self._rpc_timeout)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                log.info(
                    "no open case to join",
                    household=trigger.household_key,
                    event_type=trigger.event_type,
                )
                return Outcome.NO_OPEN_CASE
            raise
        return Outcome.DELIVERED

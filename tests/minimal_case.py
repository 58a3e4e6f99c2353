"""A stand-in ``OutreachCase`` that only records the triggers it accepts.

Ingest's tests and ``bench/ingest.py`` register this under the real workflow type name, so they
exercise exactly what ingest relies on (``case_api``: signal-with-start with :class:`CaseStart`,
the ``trigger`` signal, the ``triggers`` query, dedupe by trigger event id) without the real
case's timers and activities: they measure and test ingest, not case logic. Production workers
register ``outreach.workflows.outreach_case`` instead; never register both on one task queue.
"""

from __future__ import annotations

from temporalio import workflow

from outreach.workflows.case_contract import (
    TRIGGER_SIGNAL,
    TRIGGERS_QUERY,
    WORKFLOW_TYPE,
    CaseStart,
    Trigger,
)


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class MinimalCase:
    """Keeps running and remembers accepted trigger ids in arrival order (duplicates dropped)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._triggers: list[str] = []
        self._closed = False

    @workflow.run
    async def run(self, start: CaseStart) -> list[str]:
        await workflow.wait_condition(lambda: self._closed)
        return self._triggers

    @workflow.signal(name=TRIGGER_SIGNAL)
    def trigger(self, trigger: Trigger) -> None:
        if trigger.event_id in self._seen:
            return
        self._seen.add(trigger.event_id)
        self._triggers.append(trigger.event_id)

    @workflow.signal(name="close")
    def close(self) -> None:
        """Ends the stand-in case (tests use it to check that a closed case is not joined)."""
        self._closed = True

    @workflow.query(name=TRIGGERS_QUERY)
    def triggers(self) -> list[str]:
        return list(self._triggers)

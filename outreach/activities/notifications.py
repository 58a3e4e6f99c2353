"""Telling the household (notice, reminders, decision) and the supervisors (escalations)."""

from __future__ import annotations

from temporalio import activity

from outreach.activities.channels import Message
from outreach.activities.context import ActivityContext
from outreach.activities.keys import step_id
from outreach.activities.recording import append_case_events
from outreach.infra.log import bind_case, get_logger
from outreach.workflows.case_data import Notice

__all__ = ["NotificationActivities"]

log = get_logger(__name__)


class NotificationActivities:
    def __init__(self, context: ActivityContext) -> None:
        self._ctx = context

    @activity.defn(name="notify")
    async def notify(self, notice: Notice) -> str:
        """Hand the message to the channel adapter, then record the notice's domain event.

        Both are keyed by the notice's step: a retry after either succeeded repeats nothing.
        Returns the notification id.
        """
        bind_case(case_id=notice.case_id, household=notice.household_key)
        notification_id = step_id(notice.case_id, f"notify-{notice.step}")
        await self._ctx.channel.send(
            Message(
                notification_id=notification_id,
                case_id=notice.case_id,
                household_key=notice.household_key,
                district=notice.district,
                audience=notice.audience,
                channel=notice.channel,
                template=notice.template,
                params=notice.params,
            )
        )
        if notice.event is not None:
            await append_case_events(
                self._ctx.store, notice.case_id, notice.household_key, [notice.event], notice.at
            )
        log.info(
            "notification handed over",
            audience=notice.audience,
            channel=notice.channel,
            template=notice.template,
            adapter=self._ctx.channel.name,
        )
        return str(notification_id)

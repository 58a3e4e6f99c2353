"""Temporal wiring shared by the stack, the worker and the clients."""

from __future__ import annotations

from temporalio.client import Client

from outreach.infra.settings import Settings

TASK_QUEUE = "outreach"

# Custom search attributes ops use to list cases in Temporal's UI. The embedded dev server
# registers them at start; on a real cluster the worker registers them (operator API).
SEARCH_ATTRIBUTES: dict[str, str] = {
    "OutreachStage": "Keyword",
    "OutreachDistrict": "Keyword",
    "OutreachOverdue": "Bool",
}


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace)

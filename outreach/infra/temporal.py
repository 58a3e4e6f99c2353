"""Temporal wiring shared by the stack, the worker and the clients."""

from __future__ import annotations

from urllib.parse import quote

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from outreach.infra.settings import Settings

TASK_QUEUE = "outreach"

# Custom search attributes ops use to list cases in Temporal's UI. The embedded dev server
# registers them at start; on a real cluster the worker registers them (operator API).
SEARCH_ATTRIBUTES: dict[str, str] = {
    "OutreachStage": "Keyword",
    "OutreachDistrict": "Keyword",
    "OutreachOverdue": "Bool",
}


REPORTED_PROBLEMS_CONFIG = "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute"
"""Temporal's dynamic config: after this many workflow task failures or timeouts in a row the
server sets the workflow's ``TemporalReportedProblems`` search attribute (cleared when a task
succeeds). The embedded server sets it to 2; a cluster's operator must set it too."""
STUCK_QUERY = "TemporalReportedProblems IS NOT NULL"
"""Visibility query for the workflows whose task keeps failing (or timing out)."""


async def connect(settings: Settings) -> Client:
    """A client using the pydantic data converter (Decimal, datetime, dataclasses, models).

    Every client and worker of the service must use the same converter.
    """
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


def workflow_ui_url(temporal_ui: str | None, namespace: str, workflow_id: str) -> str | None:
    """A workflow's page in Temporal's Web UI (``Settings.temporal_ui``); None when the UI's
    address is unknown."""
    if not temporal_ui:
        return None
    return (
        f"{temporal_ui.rstrip('/')}/namespaces/{quote(namespace, safe='')}"
        f"/workflows/{quote(workflow_id, safe='')}"
    )

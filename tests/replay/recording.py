"""Recording case histories for the replay test (``tests/replay/test_replay.py``).

The integration tests are the scenarios: each calls :func:`record` on its case at the end.
Nothing is written unless ``OUTREACH_RECORD_HISTORIES=1`` is set, so re-recording is::

    OUTREACH_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/integration/test_case_*.py
    git add tests/replay/histories/       # (the lead engineer commits)

Re-record only when a change to the workflows is *meant* to be incompatible with running
cases (and then version it with ``workflow.patched`` instead, where cases are in flight).
Histories hold no personal data: households appear by their keyed hash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

HISTORIES = Path(__file__).parent / "histories"
ENV_FLAG = "OUTREACH_RECORD_HISTORIES"


def recording() -> bool:
    return os.environ.get(ENV_FLAG, "") not in ("", "0", "false", "no")


async def record(
    handle: WorkflowHandle[Any, Any], name: str, *, client: Client | None = None
) -> None:
    """Write the history of every run of ``handle``'s workflow (first run first) as
    ``histories/<name>.json`` (one run) or ``<name>.run<N>.json`` (continued as new)."""
    if not recording():
        return
    runs = []
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    owner = client or handle._client
    seen: set[str] = set()
    while run_id and run_id not in seen:
        seen.add(run_id)
        history = await owner.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        runs.append(history)
        run_id = _continued_run(history.to_json_dict())
    HISTORIES.mkdir(parents=True, exist_ok=True)
    for old in HISTORIES.glob(f"{name}.*json"):
        old.unlink()
    for index, history in enumerate(runs, start=1):
        suffix = "" if len(runs) == 1 else f".run{index}"
        document = {
            "workflow_id": history.workflow_id,
            "history": scrub_identities(history.to_json_dict()),
        }
        (HISTORIES / f"{name}{suffix}.json").write_text(
            json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
        )


def scrub_identities(node: Any) -> Any:
    """Replace worker/client identities (``pid@hostname``): they name the recording machine and
    play no part in replay."""
    if isinstance(node, dict):
        return {
            k: ("recorded" if k == "identity" and isinstance(v, str) else scrub_identities(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [scrub_identities(v) for v in node]
    return node


def _continued_run(history: dict[str, Any]) -> str | None:
    for event in history.get("events", []):
        attributes = event.get("workflowExecutionContinuedAsNewEventAttributes")
        if attributes:
            run: str | None = attributes.get("newExecutionRunId")
            return run
    return None

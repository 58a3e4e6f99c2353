"""Runs one ingest process for the crash test: ``python -m tests.ingest_runner PREFIX QUEUE SLOW``.

Settings come from the environment like ``outreach ingest``; PREFIX and QUEUE isolate the test's
topics and cases. SLOW > 0 makes case delivery wait that many seconds after each batch is stored,
so a kill lands between "stored" and "committed" (the worst moment for a crash).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from outreach.infra.log import configure_logging
from outreach.infra.settings import load_settings
from outreach.infra.temporal import connect
from outreach.ingest.app import build_ingest
from outreach.ingest.case_signals import CaseSignal, CaseSignaller, DeliveryReport


class SlowCases:
    def __init__(self, inner: CaseSignaller, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def deliver(self, signals: Sequence[CaseSignal]) -> DeliveryReport:
        await asyncio.sleep(self.delay)
        return await self.inner.deliver(signals)


async def main(prefix: str, task_queue: str, slow: float) -> None:
    settings = load_settings()
    configure_logging(settings.log_level, "json")
    cases = None
    if slow > 0:
        client = await connect(settings)
        cases = SlowCases(CaseSignaller(client, task_queue=task_queue), slow)
    ingest = build_ingest(settings, cases=cases, topic_prefix=prefix, task_queue=task_queue)
    async with ingest:
        print("ingest started", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))

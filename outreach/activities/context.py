"""What the case activities need from the outside world, built once per worker process."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from outreach.activities.channels import ChannelAdapter
from outreach.policy.parameters import PolicyParameters
from outreach.store.event_store import EventStore

__all__ = ["ActivityContext"]


@dataclass(frozen=True)
class ActivityContext:
    """The event store (and its pool), the policy loaded from ``OUTREACH_POLICY``, the
    notification channel, and the case settings the workflow is told at screening."""

    store: EventStore
    policy: PolicyParameters
    channel: ChannelAdapter
    max_visit_attempts: int = 3
    history_limit: int = 2000

    @property
    def pool(self) -> asyncpg.Pool:
        return self.store.pool

"""The resources one process's reads and commands run on, shared by the API and the page."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from temporalio.client import Client

from outreach.infra.settings import Settings
from outreach.store.event_store import EventStore

__all__ = ["Services"]


@dataclass
class Services:
    """What the API's handlers and the page use; one per process (``app.state.services``)."""

    settings: Settings
    db: asyncpg.Pool
    store: EventStore
    temporal: Client

"""Channel adapters: how a message to a household or a supervisor leaves the service.

A message names its recipient by case, household key and district, and its content by a
template and parameters (programmes, dates, amounts): never a name, phone or address. The
delivering side (an SMS gateway, the letter printing service, the phone-task list) resolves the
contact details with its own access to the protected records.

- :class:`PostgresChannel` (default) records every message in the ``notifications`` table, so
  what would have been sent can be inspected (demo, tests, a pilot without a gateway).
- :class:`WebhookChannel` POSTs each message as JSON to a configured URL
  (``OUTREACH_NOTIFY_WEBHOOK_URL``) with an ``Idempotency-Key`` header; any non-2xx answer is
  an error, so the activity retries.

Both are idempotent by ``notification_id`` (derived from the case and step).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg

from outreach.store.event_store import dumps

__all__ = [
    "ChannelAdapter",
    "ChannelError",
    "Message",
    "PostgresChannel",
    "WebhookChannel",
]


class ChannelError(RuntimeError):
    """The message could not be handed over; the activity retries it."""


@dataclass(frozen=True)
class Message:
    notification_id: uuid.UUID
    case_id: str
    household_key: str
    district: str
    audience: str  # household | supervisor
    channel: str  # sms | phone | letter | inbox
    template: str
    params: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "notification_id": str(self.notification_id),
            "case_id": self.case_id,
            "household": self.household_key,
            "district": self.district,
            "audience": self.audience,
            "channel": self.channel,
            "template": self.template,
            "params": self.params,
        }


class ChannelAdapter(Protocol):
    name: str

    async def send(self, message: Message) -> None:
        """Hand the message over (idempotent by ``notification_id``); raise to retry."""


class PostgresChannel:
    """Records messages in ``notifications`` (one row per notification id)."""

    name = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def send(self, message: Message) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """
                INSERT INTO notifications (notification_id, case_id, household, district,
                                           audience, channel, template, params)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
                ON CONFLICT (notification_id) DO NOTHING
                """,
                message.notification_id,
                message.case_id,
                message.household_key,
                message.district,
                message.audience,
                message.channel,
                message.template,
                dumps(message.params),
            )


class WebhookChannel:
    """POSTs messages to ``url`` (stdlib HTTP in a thread: no extra dependency)."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the notification webhook URL must be http(s)")
        self.url = url
        self.timeout = timeout

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._post, message)

    def _post(self, message: Message) -> None:
        body = json.dumps(message.to_dict(), ensure_ascii=False).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": str(message.notification_id),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            raise ChannelError(f"notification webhook answered {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ChannelError(f"notification webhook unreachable: {exc}") from exc
        if not 200 <= status < 300:
            raise ChannelError(f"notification webhook answered {status}")

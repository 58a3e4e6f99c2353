"""The webhook channel adapter against a local HTTP server (stdlib, in a thread)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from outreach.activities.channels import ChannelError, Message, WebhookChannel


class _Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, Any], dict[str, str]]]] = []
    status = 202

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Gateway.received.append((json.loads(body), dict(self.headers)))
        self.send_response(_Gateway.status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Gateway.received.clear()
    _Gateway.status = 202
    yield f"http://127.0.0.1:{server.server_address[1]}/notify"
    server.shutdown()
    server.server_close()


MESSAGE = Message(
    notification_id=uuid.UUID("5b0f7c1e-8a43-5d2e-9c61-0e6a3f1d2b74"),
    case_id="case-1",
    household_key="k" * 64,
    district="cili",
    audience="household",
    channel="sms",
    template="reminder",
    params={"attempt": "2"},
)


async def test_webhook_posts_the_message_with_an_idempotency_key(gateway: str) -> None:
    await WebhookChannel(gateway).send(MESSAGE)
    ((body, headers),) = _Gateway.received
    assert body == {
        "notification_id": str(MESSAGE.notification_id),
        "case_id": "case-1",
        "household": "k" * 64,
        "district": "cili",
        "audience": "household",
        "channel": "sms",
        "template": "reminder",
        "params": {"attempt": "2"},
    }
    assert headers["Idempotency-Key"] == str(MESSAGE.notification_id)


async def test_webhook_errors_make_the_activity_retry(gateway: str) -> None:
    _Gateway.status = 503
    with pytest.raises(ChannelError, match="503"):
        await WebhookChannel(gateway).send(MESSAGE)
    with pytest.raises(ChannelError, match="unreachable"):
        await WebhookChannel("http://127.0.0.1:9/notify", timeout=2).send(MESSAGE)
    with pytest.raises(ValueError):
        WebhookChannel("ftp://example.invalid/")

"""The CloudEvents 1.0 envelope (structured JSON mode) shared by inbound and outbound events.

Required attributes: ``specversion`` ("1.0"), ``id``, ``source``, ``type``, ``time`` (RFC 3339
with an offset) and ``data``; optional ``datacontenttype``, ``dataschema``, ``subject``, and the
extension attribute ``schemaversion`` (our schema version of ``data``). Any other extension
attribute is kept as it came and re-serialised by :meth:`CloudEvent.to_json_dict`.

``(source, id)`` is the idempotency key: the same pair delivered again is a duplicate, whatever
the rest of the event says. :func:`event_uuid` turns it into a deterministic UUID usable as the
event store's event id.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from outreach.events.fields import NonEmptyStr, Rfc3339Time, Token

__all__ = [
    "EVENT_NAMESPACE",
    "CloudEvent",
    "event_uuid",
    "idempotency_key",
]

EVENT_NAMESPACE = uuid.UUID("5b0f7c1e-8a43-5d2e-9c61-0e6a3f1d2b74")
"""Fixed namespace for :func:`event_uuid`. Never change it: stored event ids derive from it."""

# application/json, application/cloudevents+json, application/foo+json; parameters allowed.
_JSON_MEDIA_TYPE = re.compile(r"\s*application/(?:[\w.+-]*\+)?json\s*(?:;.*)?", re.IGNORECASE)


def idempotency_key(source: str, event_id: str) -> str:
    """The stable text form of ``(source, id)``: ``f"{source}\\n{id}"``.

    Unambiguous because ``source`` and ``id`` may not contain control characters.
    """
    return f"{source}\n{event_id}"


def event_uuid(source: str, event_id: str) -> uuid.UUID:
    """A deterministic UUID (v5) for ``(source, id)``: the same pair always gives the same id."""
    return uuid.uuid5(EVENT_NAMESPACE, idempotency_key(source, event_id))


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event whose ``data`` is any JSON value.

    Used as is to validate the envelope of an event whose type is not known yet; the typed
    inbound events narrow ``type`` and ``data``. Instances are immutable.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: Token
    source: Token
    type: NonEmptyStr
    time: Rfc3339Time
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    schemaversion: int | None = Field(default=None, ge=0)
    data: Any

    @model_validator(mode="before")
    @classmethod
    def _structured_json_only(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if "data_base64" in value:
                raise PydanticCustomError(
                    "data_base64",
                    "data_base64 is not supported: data must be a JSON value in 'data'",
                )
            content_type = value.get("datacontenttype")
            if isinstance(content_type, str) and not _JSON_MEDIA_TYPE.fullmatch(content_type):
                raise PydanticCustomError(
                    "datacontenttype",
                    "datacontenttype must be a JSON media type such as application/json",
                )
        return value

    @property
    def idempotency_key(self) -> str:
        """``(source, id)`` as a stable string; equal keys mean duplicate deliveries."""
        return idempotency_key(self.source, self.id)

    @property
    def event_uuid(self) -> uuid.UUID:
        """Deterministic UUID of ``(source, id)``, usable as the event store's event id."""
        return event_uuid(self.source, self.id)

    @property
    def extensions(self) -> dict[str, Any]:
        """Extension attributes other than ``schemaversion``, as they arrived."""
        return dict(self.model_extra or {})

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the event, extra fields included; parses back to an equal event.

        Attributes absent on input stay absent; amounts become decimal strings ("12000.50"),
        dates ISO 8601 strings, times RFC 3339 strings with their original offset.
        """
        return self.model_dump(mode="json", exclude_unset=True)

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

import hashlib
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError, core_schema

from outreach.events.fields import Identifier, JsonForm, Rfc3339Time, Token
from outreach.events.limits import MAX_ID, MAX_TEXT

__all__ = [
    "EVENT_NAMESPACE",
    "CloudEvent",
    "event_uuid",
    "idempotency_key",
]

EVENT_NAMESPACE = uuid.UUID("5b0f7c1e-8a43-5d2e-9c61-0e6a3f1d2b74")
"""Fixed namespace for :func:`event_uuid`. Never change it: stored event ids derive from it."""
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes

# application/json, application/cloudevents+json, application/foo+json; parameters allowed.
_JSON_MEDIA_TYPE = re.compile(r"\s*application/(?:[\w.+-]*\+)?json\s*(?:;.*)?", re.IGNORECASE)
# The same for JSON input (pydantic-core's regex engine), with ASCII letters and only spaces
# and tabs around: it matches a subset of what _JSON_MEDIA_TYPE matches, never more.
_JSON_MEDIA_TYPE_ASCII = r"^[ \t]*(?i-u:application/(?:[a-z0-9_.+-]*\+)?json)[ \t]*(?:;[^\n]*)?$"

NOT_STRUCTURED_JSON = frozenset({"data_base64", "datacontenttype"})
"""Error types saying an event is not in structured JSON mode. Such an error is reported alone:
the rest of the event is not worth checking."""


def idempotency_key(source: str, event_id: str) -> str:
    """The stable text form of ``(source, id)``: ``f"{source}\\n{id}"``.

    Unambiguous because ``source`` and ``id`` may not contain control characters.
    """
    return f"{source}\n{event_id}"


def event_uuid(source: str, event_id: str) -> uuid.UUID:
    """A deterministic UUID (v5) for ``(source, id)``: the same pair always gives the same id.

    Exactly ``uuid.uuid5(EVENT_NAMESPACE, idempotency_key(source, event_id))``, with the
    namespace's bytes computed once rather than per call (half of uuid5's cost).
    """
    name = idempotency_key(source, event_id).encode()
    digest = hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def _json_media_type(value: str) -> str:
    if not _JSON_MEDIA_TYPE.fullmatch(value):
        raise PydanticCustomError(
            "datacontenttype",
            "datacontenttype must be a JSON media type such as application/json",
        )
    return value


def _no_data_base64(value: Any) -> None:
    raise PydanticCustomError(
        "data_base64", "data_base64 is not supported: data must be a JSON value in 'data'"
    )


_JsonMediaType = Annotated[
    str,
    Field(max_length=MAX_ID),
    AfterValidator(_json_media_type),
    JsonForm(core_schema.str_schema(pattern=_JSON_MEDIA_TYPE_ASCII, max_length=MAX_ID)),
]

# Checks at field level rather than in a model "before" validator: that would make pydantic
# build the whole event as Python objects before validating JSON bytes (a quarter of the time).
_NoDataBase64 = SkipJsonSchema[Annotated[None, BeforeValidator(_no_data_base64)]]


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event whose ``data`` is any JSON value.

    Used as is to validate the envelope of an event whose type is not known yet; the typed
    inbound events narrow ``type`` and ``data``. Instances are immutable.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: Token
    source: Token
    type: Identifier
    time: Rfc3339Time
    datacontenttype: _JsonMediaType | None = None
    dataschema: str | None = Field(default=None, max_length=MAX_TEXT)
    subject: str | None = Field(default=None, max_length=MAX_TEXT)
    schemaversion: int | None = Field(default=None, ge=0, le=2**31 - 1)
    data: Any
    data_base64: _NoDataBase64 = Field(default=None, exclude=True, repr=False)
    """Structured JSON mode only: present at all (even null), data_base64 is an error. So it is
    never set, never dumped, and not in the JSON schema."""

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

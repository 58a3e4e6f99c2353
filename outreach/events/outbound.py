"""Outbound events (CONTRACT.md, "Outbound on Kafka"): what this service publishes.

``outreach.enrollment.finalized`` (and, after an annual review, ``outreach.enrollment.terminated``)
on ``outreach.enrollments`` and ``outreach.case.closed`` on ``outreach.cases``, as CloudEvents
whose ``id`` the caller derives from the domain event being published, so a retried publish
carries the same id and consumers can dedupe on it.

Unlike inbound shapes, these are ours: unknown fields are forbidden, to catch our own mistakes.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from outreach.events.fields import Amount, LowerText, NonEmptyStr, Rfc3339Time, Token
from outreach.events.topics import CASES_TOPIC, ENROLLMENTS_TOPIC
from outreach.policy.programmes import Programme  # one list of names, owned by policy

__all__ = [
    "ONE_OFF_PROGRAMMES",
    "OUTBOUND_SCHEMA_VERSION",
    "OUTREACH_SOURCE",
    "CaseClosed",
    "EnrollmentFinalized",
    "EnrollmentTerminated",
    "OutboundData",
    "OutboundEnvelope",
    "Outcome",
    "Programme",
    "ProgrammeAward",
    "outbound_envelope",
    "outbound_value",
]

OUTREACH_SOURCE: Final = "/outreach"
"""CloudEvents ``source`` of everything this service publishes."""
OUTBOUND_SCHEMA_VERSION: Final = 1


ONE_OFF_PROGRAMMES: Final = frozenset({Programme.TEMPORARY_ASSISTANCE})
"""Programmes paid once (``one_off_amount``); all others are recurring (``monthly_amount``)."""


class Outcome(StrEnum):
    ENROLLED = "enrolled"
    NOT_ELIGIBLE = "not_eligible"
    DECLINED = "declined"
    UNREACHABLE = "unreachable"
    WITHDRAWN = "withdrawn"


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProgrammeAward(_Closed):
    """One programme in an enrolment: a monthly amount, or a one-off for temporary assistance."""

    programme: Programme
    monthly_amount: Amount | None = None
    one_off_amount: Amount | None = None
    effective_from: date

    @model_validator(mode="after")
    def _one_amount(self) -> ProgrammeAward:
        one_off = self.programme in ONE_OFF_PROGRAMMES
        wanted, other = ("one_off_amount", "monthly_amount")
        if not one_off:
            wanted, other = other, wanted
        if getattr(self, wanted) is None or getattr(self, other) is not None:
            raise PydanticCustomError(
                "programme_amount",
                "{programme} needs {wanted} and no {other}",
                {"programme": self.programme.value, "wanted": wanted, "other": other},
            )
        return self

    @model_serializer(mode="wrap")
    def _omit_absent_amount(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {key: value for key, value in dumped.items() if value is not None}


class OutboundData(_Closed):
    """Base of outbound ``data``; ``event_type`` and ``topic`` say where it is published."""

    event_type: ClassVar[str]
    topic: ClassVar[str]


class EnrollmentFinalized(OutboundData):
    event_type: ClassVar[str] = "outreach.enrollment.finalized"
    topic: ClassVar[str] = ENROLLMENTS_TOPIC

    case_id: NonEmptyStr
    household_id: NonEmptyStr
    district: LowerText
    programmes: list[ProgrammeAward] = Field(min_length=1)
    decided_at: Rfc3339Time
    decision_trace: Any
    """The policy engine's trace (rule, parameter values, effective date); any JSON-able value."""


class CaseClosed(OutboundData):
    event_type: ClassVar[str] = "outreach.case.closed"
    topic: ClassVar[str] = CASES_TOPIC

    case_id: NonEmptyStr
    household_id: NonEmptyStr
    outcome: Outcome
    reason: NonEmptyStr


class EnrollmentTerminated(OutboundData):
    """Programmes of an enrolment that end after an annual review (added to the contract's
    ``outreach.enrollments`` topic as a new event type; existing consumers may ignore it)."""

    event_type: ClassVar[str] = "outreach.enrollment.terminated"
    topic: ClassVar[str] = ENROLLMENTS_TOPIC

    case_id: NonEmptyStr
    household_id: NonEmptyStr
    district: LowerText
    programmes: list[Programme] = Field(min_length=1)
    """The programmes that end; others of the enrolment continue."""
    effective_to: date
    reviewed_at: Rfc3339Time
    reason: NonEmptyStr
    decision_trace: Any


class OutboundEnvelope(_Closed):
    """The CloudEvent wrapped around outbound data (structured JSON mode)."""

    specversion: Literal["1.0"] = "1.0"
    id: Token
    source: Token
    type: NonEmptyStr
    time: Rfc3339Time
    datacontenttype: Literal["application/json"] = "application/json"
    subject: str | None = None
    schemaversion: int = OUTBOUND_SCHEMA_VERSION
    data: dict[str, Any]


def outbound_envelope(
    data: OutboundData,
    *,
    event_id: str,
    time: datetime,
    source: str = OUTREACH_SOURCE,
) -> dict[str, Any]:
    """A JSON-ready CloudEvent for ``data``; ``subject`` is the case id.

    ``event_id`` and ``time`` must be stable across retries: derive them from the domain event
    being published (e.g. its event-store id and recorded time), never from the clock.
    """
    envelope = OutboundEnvelope(
        id=event_id,
        source=source,
        type=data.event_type,
        time=time,
        subject=getattr(data, "case_id", None),
        data=data.model_dump(mode="json"),
    )
    return envelope.model_dump(mode="json", exclude_none=True)


def outbound_value(envelope: dict[str, Any]) -> bytes:
    """The Kafka message value for an envelope from :func:`outbound_envelope` (UTF-8 JSON)."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()

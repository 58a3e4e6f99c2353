"""The event vocabulary: inbound agency feed events, the CloudEvents envelope, schema versions
and upcasters, outbound events.

Ingest needs one call: :func:`parse_inbound` (raw message value + topic -> typed event, or
:class:`InvalidEvent` with a readable reason for the dead-letter topic).

Modules: ``identity`` (resident ID numbers), ``fields`` (shared field types), ``envelope``
(CloudEvents), ``feeds`` (inbound types), ``registry`` (type -> model, topic, schema version,
upcasters), ``parsing`` (the entry point), ``outbound`` (what we publish), ``topics`` (topic
names), ``samples`` (valid example events for tests, benchmarks and the demo; not imported here).
"""

from outreach.events.envelope import CloudEvent, event_uuid, idempotency_key
from outreach.events.feeds import (
    CaseEffect,
    DisabilityCertificateExpiring,
    DisabilityCertificateIssued,
    FactsHouseholdReported,
    Household,
    InboundEvent,
    MedicalSettlementRecorded,
    MonitoringHouseholdListed,
    Person,
)
from outreach.events.identity import IdNumberError, validate_id_number
from outreach.events.outbound import (
    CaseClosed,
    EnrollmentFinalized,
    Outcome,
    Programme,
    ProgrammeAward,
    outbound_envelope,
    outbound_value,
)
from outreach.events.parsing import InvalidEvent, InvalidKind, parse_inbound, validate_inbound
from outreach.events.registry import REGISTRY, EventSpec, spec_for

__all__ = [
    "REGISTRY",
    "CaseClosed",
    "CaseEffect",
    "CloudEvent",
    "DisabilityCertificateExpiring",
    "DisabilityCertificateIssued",
    "EnrollmentFinalized",
    "EventSpec",
    "FactsHouseholdReported",
    "Household",
    "IdNumberError",
    "InboundEvent",
    "InvalidEvent",
    "InvalidKind",
    "MedicalSettlementRecorded",
    "MonitoringHouseholdListed",
    "Outcome",
    "Person",
    "Programme",
    "ProgrammeAward",
    "event_uuid",
    "idempotency_key",
    "outbound_envelope",
    "outbound_value",
    "parse_inbound",
    "spec_for",
    "validate_id_number",
    "validate_inbound",
]

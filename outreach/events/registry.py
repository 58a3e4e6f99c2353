"""Which model, topic and schema version each inbound ``type`` has, and how older versions
are upcast to the current one.

A schema version describes the shape of ``data``. Every type is at version 1 today. An event
states its version with the CloudEvents extension attribute ``schemaversion`` (an integer, or
digits in a string) or, when that is absent, with a ``dataschema`` URI ending in ``/v<N>``;
an event stating neither is taken to be at the current version. ``schemaversion`` wins when both
are present.

Upcasters are pure functions from the ``data`` of version N to the ``data`` of version N + 1.
They must not mutate their argument. Versions newer than the current one are rejected: this
code does not know what they mean.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, get_args

from outreach.events.feeds import (
    DisabilityCertificateExpiring,
    DisabilityCertificateIssued,
    FactsHouseholdReported,
    InboundEvent,
    MedicalSettlementRecorded,
    MonitoringHouseholdListed,
)
from outreach.events.topics import (
    DISABILITY_TOPIC,
    FACTS_TOPIC,
    INBOUND_TOPICS,
    MEDICAL_TOPIC,
    MONITORING_TOPIC,
)

__all__ = [
    "REGISTRY",
    "EventSpec",
    "SchemaVersionError",
    "Upcaster",
    "declared_version",
    "known_types",
    "spec_for",
    "types_on_topic",
]

Upcaster = Callable[[Mapping[str, Any]], dict[str, Any]]
"""Pure function: ``data`` at version N -> ``data`` at version N + 1."""

_DATASCHEMA_VERSION = re.compile(r"/v([0-9]+)/?$")


class SchemaVersionError(ValueError):
    """The event's schema version is malformed or not supported; ``reason`` is readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EventSpec:
    """One inbound event type: its model, the topic it must arrive on, its schema versions."""

    type: str
    model: builtins.type[InboundEvent]
    topic: str
    version: int = 1
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)
    """Keyed by the version they upcast *from*; must cover every version from the oldest."""

    def __post_init__(self) -> None:
        expected = set(range(self.oldest_version, self.version))
        if set(self.upcasters) != expected:
            raise ValueError(f"{self.type}: upcasters must cover versions {sorted(expected)}")
        if get_args(self.model.model_fields["type"].annotation) != (self.type,):
            raise ValueError(f"{self.type}: {self.model.__name__} is for another type")
        if self.topic not in INBOUND_TOPICS:
            raise ValueError(f"{self.type}: {self.topic} is not an inbound topic")

    @property
    def oldest_version(self) -> int:
        """The oldest schema version that can still be upcast to the current one."""
        return min(self.upcasters, default=self.version)

    def upcast(self, data: Mapping[str, Any], from_version: int) -> Mapping[str, Any]:
        """``data`` at ``from_version`` brought to the current version.

        Raises SchemaVersionError for versions newer than current or older than the oldest.
        """
        if from_version > self.version:
            raise SchemaVersionError(
                f"schema version {from_version} of {self.type} is newer than the supported "
                f"version {self.version}"
            )
        if from_version < self.oldest_version:
            raise SchemaVersionError(
                f"schema version {from_version} of {self.type} is no longer supported "
                f"(oldest supported: {self.oldest_version})"
            )
        for version in range(from_version, self.version):
            data = self.upcasters[version](data)
        return data


def declared_version(event: Mapping[str, Any]) -> int | None:
    """The schema version an event states (``schemaversion``, else ``dataschema``), or None."""
    raw = event.get("schemaversion")
    if raw is not None:
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
            return raw
        if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
            return int(raw.strip())
        raise SchemaVersionError(f"schemaversion must be a non-negative integer, got {raw!r}"[:200])
    dataschema = event.get("dataschema")
    if isinstance(dataschema, str):
        match = _DATASCHEMA_VERSION.search(dataschema)
        if match:
            return int(match.group(1))
    return None


# -------------------------------------------------------------------------------- upcasters


def _settlement_v0_to_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """medical.settlement.recorded v0 -> v1: ``settlement.self_paid`` becomes ``out_of_pocket``.

    Version 0 is the shape medical insurance exported before the contract was agreed: the
    patient's share (个人自付) was called ``self_paid``. Events recorded in that shape (a backfill
    from that export, or a replay of stored raw messages) must still parse. When a v0 event
    carries both names, ``out_of_pocket`` wins and ``self_paid`` is dropped.
    """
    upgraded = dict(data)
    settlement = data.get("settlement")
    if isinstance(settlement, Mapping):
        moved = dict(settlement)
        if "self_paid" in moved:
            self_paid = moved.pop("self_paid")
            moved.setdefault("out_of_pocket", self_paid)
        upgraded["settlement"] = moved
    return upgraded


# --------------------------------------------------------------------------------- registry

_SPECS = (
    EventSpec("disability.certificate.issued", DisabilityCertificateIssued, DISABILITY_TOPIC),
    EventSpec("disability.certificate.expiring", DisabilityCertificateExpiring, DISABILITY_TOPIC),
    EventSpec(
        "medical.settlement.recorded",
        MedicalSettlementRecorded,
        MEDICAL_TOPIC,
        version=1,
        upcasters={0: _settlement_v0_to_v1},
    ),
    EventSpec("monitoring.household.listed", MonitoringHouseholdListed, MONITORING_TOPIC),
    EventSpec("facts.household.reported", FactsHouseholdReported, FACTS_TOPIC),
)

REGISTRY: Mapping[str, EventSpec] = MappingProxyType({spec.type: spec for spec in _SPECS})
"""Every inbound event type, by CloudEvents ``type``."""


def spec_for(event_type: str) -> EventSpec | None:
    """The spec of a known inbound type, or None."""
    return REGISTRY.get(event_type)


def known_types() -> tuple[str, ...]:
    return tuple(REGISTRY)


def types_on_topic(topic: str) -> tuple[str, ...]:
    """The event types that may arrive on an inbound topic."""
    return tuple(spec.type for spec in _SPECS if spec.topic == topic)

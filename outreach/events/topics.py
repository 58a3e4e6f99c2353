"""Kafka topic names and dead-letter headers from CONTRACT.md."""

from __future__ import annotations

from typing import Final

__all__ = [
    "CASES_TOPIC",
    "DEADLETTER_TOPIC",
    "DISABILITY_TOPIC",
    "ENROLLMENTS_TOPIC",
    "ERROR_HEADER",
    "FACTS_TOPIC",
    "INBOUND_TOPICS",
    "MEDICAL_TOPIC",
    "MONITORING_TOPIC",
    "SOURCE_TOPIC_HEADER",
]

DISABILITY_TOPIC: Final = "agency.disability.certificates"
MEDICAL_TOPIC: Final = "agency.medical.settlements"
MONITORING_TOPIC: Final = "agency.rural.monitoring"
FACTS_TOPIC: Final = "agency.household.facts"
INBOUND_TOPICS: Final = (DISABILITY_TOPIC, MEDICAL_TOPIC, MONITORING_TOPIC, FACTS_TOPIC)
"""The four agency topics ingest subscribes to."""

ENROLLMENTS_TOPIC: Final = "outreach.enrollments"
CASES_TOPIC: Final = "outreach.cases"
DEADLETTER_TOPIC: Final = "outreach.deadletter"

ERROR_HEADER: Final = "error"
"""Dead-letter header carrying the readable reason (UTF-8)."""
SOURCE_TOPIC_HEADER: Final = "source-topic"
"""Dead-letter header carrying the topic the message was read from."""

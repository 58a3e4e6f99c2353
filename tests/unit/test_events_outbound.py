"""Outbound CloudEvents: enrolment finalized and case closed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from outreach.events import (
    CaseClosed,
    EnrollmentFinalized,
    Outcome,
    Programme,
    ProgrammeAward,
    outbound_envelope,
    outbound_value,
)
from outreach.events.outbound import OUTREACH_SOURCE
from outreach.events.topics import CASES_TOPIC, ENROLLMENTS_TOPIC

CST = timezone(timedelta(hours=8))
DECIDED = datetime(2024, 4, 2, 15, 0, tzinfo=CST)


def enrollment() -> EnrollmentFinalized:
    return EnrollmentFinalized(
        case_id="case-HH-430802-000042-1",
        household_id="HH-430802-000042",
        district="Yongding",
        programmes=[
            ProgrammeAward(
                programme=Programme.DIBAO,
                monthly_amount=Decimal("1360.00"),
                effective_from=date(2024, 5, 1),
            ),
            ProgrammeAward(
                programme=Programme.TEMPORARY_ASSISTANCE,
                one_off_amount=Decimal("3000"),
                effective_from=date(2024, 4, 10),
            ),
        ],
        decided_at=DECIDED,
        decision_trace={
            "rule": "dibao.urban",
            "standard": Decimal("650"),
            "effective": "2023-01-01",
        },
    )


def test_enrollment_envelope() -> None:
    data = enrollment()
    assert data.topic == ENROLLMENTS_TOPIC
    envelope = outbound_envelope(data, event_id="evt-123", time=DECIDED)
    assert envelope["specversion"] == "1.0"
    assert envelope["id"] == "evt-123"
    assert envelope["source"] == OUTREACH_SOURCE
    assert envelope["type"] == "outreach.enrollment.finalized"
    assert envelope["time"] == "2024-04-02T15:00:00+08:00"
    assert envelope["subject"] == "case-HH-430802-000042-1"
    assert envelope["datacontenttype"] == "application/json"
    body = envelope["data"]
    assert body["district"] == "yongding"
    assert body["programmes"][0] == {
        "programme": "dibao",
        "monthly_amount": "1360.00",
        "effective_from": "2024-05-01",
    }
    assert body["programmes"][1]["one_off_amount"] == "3000"
    assert "monthly_amount" not in body["programmes"][1]
    assert body["decision_trace"]["standard"] == "650"
    assert json.loads(outbound_value(envelope)) == envelope


def test_same_inputs_give_the_same_bytes() -> None:
    first = outbound_value(outbound_envelope(enrollment(), event_id="evt-1", time=DECIDED))
    again = outbound_value(outbound_envelope(enrollment(), event_id="evt-1", time=DECIDED))
    assert first == again


def test_case_closed() -> None:
    data = CaseClosed(
        case_id="c-1", household_id="HH-1", outcome=Outcome.UNREACHABLE, reason="3 visits, nobody"
    )
    assert data.topic == CASES_TOPIC
    envelope = outbound_envelope(data, event_id="c-1/closed", time=datetime(2024, 5, 1, tzinfo=UTC))
    assert envelope["type"] == "outreach.case.closed"
    assert envelope["time"] == "2024-05-01T00:00:00Z"
    assert envelope["data"] == {
        "case_id": "c-1",
        "household_id": "HH-1",
        "outcome": "unreachable",
        "reason": "3 visits, nobody",
    }


@pytest.mark.parametrize(
    ("programme", "monthly", "one_off"),
    [
        (Programme.TEMPORARY_ASSISTANCE, Decimal(500), None),
        (Programme.DIBAO, None, Decimal(500)),
        (Programme.DIBAO, Decimal(500), Decimal(500)),
        (Programme.TEKUN, None, None),
    ],
)
def test_award_needs_the_right_amount(
    programme: Programme, monthly: Decimal | None, one_off: Decimal | None
) -> None:
    with pytest.raises(ValidationError, match="needs"):
        ProgrammeAward(
            programme=programme,
            monthly_amount=monthly,
            one_off_amount=one_off,
            effective_from=date(2024, 5, 1),
        )


def test_outbound_models_are_strict_about_our_own_mistakes() -> None:
    with pytest.raises(ValidationError):
        CaseClosed(case_id="c", household_id="h", outcome="lost", reason="r")
    with pytest.raises(ValidationError):
        CaseClosed.model_validate(
            {"case_id": "c", "household_id": "h", "outcome": "enrolled", "reason": "r", "x": 1}
        )
    with pytest.raises(ValidationError):
        ProgrammeAward(
            programme=Programme.DIBAO, monthly_amount=Decimal(-1), effective_from=date(2024, 1, 1)
        )
    with pytest.raises(ValidationError):
        outbound_envelope(enrollment(), event_id="e", time=datetime(2024, 1, 1))  # naive
    with pytest.raises(ValidationError):
        outbound_envelope(enrollment(), event_id="", time=DECIDED)

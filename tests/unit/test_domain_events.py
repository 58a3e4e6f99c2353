"""Typed domain events (``outreach.events.domain``) store exactly the data today's code stores."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from outreach.activities import eligibility, enrolment, review, verification
from outreach.activities.channels import ChannelAdapter
from outreach.activities.context import ActivityContext
from outreach.activities.eligibility import EligibilityActivities, assessment_of
from outreach.activities.enrolment import EnrolmentActivities
from outreach.activities.review import ReviewActivities
from outreach.activities.verification import VerificationActivities
from outreach.events import domain as d
from outreach.events.registry import known_types
from outreach.policy import (
    DEFAULT_POLICY,
    DisabilityCategory,
    DisabilityCertificate,
    HouseholdCircumstances,
    LaborCapacity,
    Programme,
    decide,
)
from outreach.projections.cases import STAGE_AFTER
from outreach.store.event_store import EventStore
from outreach.workflows import case_events as ev
from outreach.workflows.case_contract import (
    Objection,
    Stage,
    Trigger,
    VisitAssets,
    VisitResult,
    Withdrawal,
)
from outreach.workflows.case_data import (
    AssessRequest,
    CaseClosing,
    DomainEvent,
    EconomicCheckRequest,
    Enrolment,
    HouseholdFacts,
)
from outreach.workflows.review_data import ReviewRequest

NONE, FULL = LaborCapacity.NONE, LaborCapacity.FULL
HISTORIES = Path(__file__).resolve().parents[1] / "replay" / "histories"
CASE = "5311d959-33e2-5826-93c7-d49ebf7c9b7e"
HOUSEHOLD = "1dae4a08dac648dc7f2da9c0434fe8478b418350e6ce29cce71e1e114445b3b6"
AT = datetime(2024, 3, 1, 1, 30, 0, 123456, tzinfo=UTC)
DUE = datetime(2024, 3, 8, 1, 30, tzinfo=UTC)
TRIGGER = Trigger(
    event_id="6903eab6-e96f-581e-bee7-01ce57e90c04",
    event_type="medical.settlement.recorded",
    source="/agencies/medical-insurance/zhangjiajie",
    occurred_at=AT,
    household_key=HOUSEHOLD,
    district="yongding",
    urban=True,
    out_of_pocket=Decimal(150000),
)
REF = d.TriggerRef(type="medical.settlement.recorded", event_id=TRIGGER.event_id)
FOUND = VisitResult(
    task_id="task-1",
    visited_on=date(2024, 3, 4),
    found=True,
    household_size=4,
    monthly_income_total=Decimal("800.50"),
    labor_capacity=(NONE, FULL, NONE, NONE),
    consent_to_check=True,
    assets=VisitAssets(vehicles=1, homes=1, business_premises=0, financial_assets=Decimal("2000")),
    notes="sealed:v1:abc",
    has_supporter=None,
)
FIGURES = d.VisitFigures(
    household_size=4,
    monthly_income_total=Decimal("800.50"),
    labor_capacity=("none", "full", "none", "none"),
    consent_to_check=True,
    has_supporter=None,
    assets=d.AssetFigures(vehicles=1, homes=1, business_premises=0, financial_assets=Decimal(2000)),
)
FAMILY = HouseholdCircumstances(
    district="Yongding",
    urban=True,
    household_size=4,
    monthly_income_total=Decimal(0),
    labor_capacities=(NONE, FULL, NONE, NONE),
    has_supporter=False,
    disability_certificates=(DisabilityCertificate(DisabilityCategory.PHYSICAL, 2),),
    medical_out_of_pocket=(Decimal(150000), Decimal("20.5")),
    existing_benefits=(Programme.DISABILITY_LIVING_SUBSIDY,),
)
FAMILY_FIGURES = d.Circumstances(
    district="yongding",
    urban=True,
    household_size=4,
    monthly_income_total=Decimal(0),
    labor_capacities=("none", "full", "none", "none"),
    has_supporter=False,
    assets=d.AssetFigures(),
    disability_certificates=(d.Certificate(category="physical", grade=2),),
    medical_out_of_pocket=(Decimal(150000), Decimal("20.5")),
    existing_benefits=("disability_living_subsidy",),
)


def assert_same_data(typed: d.CaseEvent, built: DomainEvent) -> None:
    """``to_data`` is today's dict: same keys, order and JSON; and it reads back to ``typed``."""
    assert typed.type == built.type
    assert typed.to_data() == built.data
    assert json.dumps(typed.to_data()) == json.dumps(built.data)
    assert type(typed).from_data(built.data) == typed
    assert d.parse(built.type, built.data) == typed
    assert type(typed).from_data(typed.to_data()) == typed


# -- (1) + (2): the workflow's builders --------------------------------------------------------


def builder_cases() -> list[tuple[DomainEvent, d.CaseEvent]]:
    objection = Objection("obj-1", "sealed:v1:xyz", date(2024, 3, 10))
    return [
        (
            ev.case_opened(
                CASE, Stage.NOTIFY, "yongding", True, TRIGGER, ("dibao", "tekun"), ("medical",)
            ),
            d.CaseOpened(
                case_id=CASE,
                stage="notify",
                district="yongding",
                urban=True,
                trigger=REF,
                programmes=("dibao", "tekun"),
                screening=("medical",),
            ),
        ),
        (
            ev.case_opened(CASE, Stage.SCREENING, "cili", False, TRIGGER, (), ()),
            d.CaseOpened(case_id=CASE, stage="screening", district="cili", trigger=REF),
        ),
        (
            ev.trigger_joined(CASE, Stage.VISIT, TRIGGER, None),
            d.TriggerJoined(case_id=CASE, stage="visit", trigger=REF),
        ),
        (
            ev.trigger_joined(CASE, Stage.VISIT, TRIGGER, ("dibao",)),
            d.TriggerJoined(
                case_id=CASE, stage="visit", trigger=REF, reconsidered=True, programmes=("dibao",)
            ),
        ),
        (
            ev.trigger_joined(CASE, Stage.VISIT, TRIGGER, ()),
            d.TriggerJoined(
                case_id=CASE, stage="visit", trigger=REF, reconsidered=True, programmes=()
            ),
        ),
        (
            ev.notice_sent(CASE, Stage.VISIT, "sms"),
            d.NoticeSent(case_id=CASE, stage="visit", channel="sms"),
        ),
        (
            ev.reminder_sent(CASE, Stage.VISIT, "phone", 2),
            d.ReminderSent(case_id=CASE, stage="visit", channel="phone", attempt=2),
        ),
        (
            ev.visit_scheduled(CASE, Stage.VERIFY, "task-2", "reverify", 3, 2, "cili", AT),
            d.VisitScheduled(
                case_id=CASE,
                stage="verify",
                task_id="task-2",
                kind="reverify",
                attempt=3,
                district="cili",
                due_at=AT,
            ),
        ),
        (
            ev.visit_overdue(CASE, Stage.VISIT, "task-1", 1, DUE),
            d.VisitOverdue(case_id=CASE, stage="visit", task_id="task-1", due_at=DUE),
        ),
        (
            ev.visit_completed(CASE, Stage.VERIFY, FOUND, 1, 1),
            d.VisitCompleted(
                case_id=CASE,
                stage="verify",
                task_id="task-1",
                found=True,
                attempt=1,
                visited_on=date(2024, 3, 4),
                figures=FIGURES,
                notes="sealed:v1:abc",
            ),
        ),
        (
            ev.visit_completed(
                CASE, Stage.VERIFY, replace(FOUND, notes="", has_supporter=False), 2, 3
            ),
            d.VisitCompleted(
                case_id=CASE,
                stage="verify",
                task_id="task-1",
                found=True,
                attempt=2,
                visited_on=date(2024, 3, 4),
                figures=replace(FIGURES, has_supporter=False),
            ),
        ),
        (
            ev.visit_completed(
                CASE, Stage.VISIT, VisitResult("task-1", date(2024, 3, 4), found=False), 1, 1
            ),
            d.VisitCompleted(
                case_id=CASE,
                stage="visit",
                task_id="task-1",
                found=False,
                attempt=1,
                visited_on=date(2024, 3, 4),
            ),
        ),
        (
            ev.visit_cancelled(CASE, Stage.CLOSED, "task-1", 1, "case withdrawn"),
            d.VisitCancelled(
                case_id=CASE, stage="closed", task_id="task-1", reason="case withdrawn"
            ),
        ),
        (
            ev.approval_requested(CASE, Stage.APPROVAL, "dec-1", 1, "tekun needs approval"),
            d.ApprovalRequested(
                case_id=CASE, stage="approval", decision_id="dec-1", reason="tekun needs approval"
            ),
        ),
        (
            ev.approval_recorded(CASE, Stage.VERIFY, "dec-1", 1, False, "sup-1", "check again"),
            d.ApprovalRecorded(
                case_id=CASE,
                stage="verify",
                decision_id="dec-1",
                approved=False,
                supervisor="sup-1",
                comment="check again",
            ),
        ),
        (
            ev.publicity_started(CASE, Stage.PUBLICITY, "dec-1", 2, DUE),
            d.PublicityStarted(
                case_id=CASE, stage="publicity", decision_id="dec-1", ends_at=DUE, round=2
            ),
        ),
        (
            ev.objection_raised(CASE, Stage.VERIFY, objection),
            d.ObjectionRaised(
                case_id=CASE,
                stage="verify",
                objection_id="obj-1",
                reason="objection during publicity: verification re-opened",
                received_on=date(2024, 3, 10),
                summary="sealed:v1:xyz",
            ),
        ),
        (
            ev.publicity_ended(CASE, Stage.ENROL, "dec-1", 1),
            d.PublicityEnded(case_id=CASE, stage="enrol", decision_id="dec-1"),
        ),
        (
            ev.case_withdrawn(CASE, Stage.CLOSED, Withdrawal("moved away", "worker-7")),
            d.CaseWithdrawn(
                case_id=CASE, stage="closed", recorded_by="worker-7", reason="moved away"
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("built", "typed"), builder_cases(), ids=[f"{b.type}-{b.step}" for b, _ in builder_cases()]
)
def test_typed_event_stores_what_the_builder_stores(built: DomainEvent, typed: d.CaseEvent) -> None:
    assert_same_data(typed, built)


# -- (1) + (2): the events the activities build (the real activity, its I/O faked) ------------


class FakePool:
    def __init__(self, conn: object) -> None:
        self.conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[object]:
        yield self.conn


class ReviewConn:
    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row

    async def fetchrow(self, query: str, *args: object) -> Mapping[str, Any]:
        return self.row


def context(conn: object = None) -> ActivityContext:
    store = SimpleNamespace(pool=FakePool(conn))
    return ActivityContext(
        store=cast(EventStore, store), policy=DEFAULT_POLICY, channel=cast(ChannelAdapter, None)
    )


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[DomainEvent]]:
    """The domain events the activities append, in order."""
    events: list[DomainEvent] = []

    async def append(
        store: object,
        case_id: str,
        household_key: str,
        batch: Sequence[DomainEvent],
        at: datetime,
        outbox: Sequence[object] = (),
    ) -> SimpleNamespace:
        events.extend(batch)
        return SimpleNamespace(duplicate=False)

    async def household_id(store: object, key: str, event_ids: Sequence[str]) -> str:
        return "430802196804230312"

    for module in (eligibility, enrolment, review, verification):
        monkeypatch.setattr(module, "append_case_events", append)
    for module in (enrolment, review):
        monkeypatch.setattr(module, "household_id_of", household_id)
    yield events


def facts_reader(facts: HouseholdFacts) -> Any:
    async def read(conn: object, household_key: str) -> HouseholdFacts:
        return facts

    return read


def assess_request(circumstances: HouseholdCircumstances = FAMILY) -> AssessRequest:
    return AssessRequest(
        CASE, HOUSEHOLD, "decision-1", "dec-1", AT, date(2024, 3, 1), circumstances
    )


def expected_awards(circumstances: HouseholdCircumstances = FAMILY) -> tuple[d.Award, ...]:
    decision = decide(circumstances, date(2024, 3, 1), DEFAULT_POLICY)
    return tuple(
        d.Award(
            programme=a.programme.value,
            effective_from=a.effective_from,
            monthly_amount=a.monthly_amount,
            one_off_amount=a.one_off_amount,
        )
        for a in decision.new_awards
    )


async def test_economic_status_checked(
    recorded: list[DomainEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = HouseholdFacts(
        monthly_income=Decimal("1200.5"),
        homes=2,
        benefits=("dibao",),
        kinds=("income", "real_estate", "benefit"),
    )
    monkeypatch.setattr(verification, "read_household_facts", facts_reader(facts))
    request = EconomicCheckRequest(
        CASE, HOUSEHOLD, "check-1", AT, 4, Decimal("800.50"), FOUND.assets
    )
    check = await VerificationActivities(context()).check_economic_status(request)
    [built] = recorded
    typed = d.EconomicStatusChecked(
        case_id=CASE,
        stage="verify",
        facts_used=("income", "real_estate", "benefit"),
        monthly_income_total=Decimal("1200.5"),
        assets=d.AssetFigures(vehicles=1, homes=2, financial_assets=Decimal(2000)),
        existing_benefits=("dibao",),
        discrepancies=check.discrepancies,
    )
    assert len(check.discrepancies) == 2
    assert_same_data(typed, built)


@pytest.mark.parametrize("eligible", [True, False])
async def test_eligibility_assessed(recorded: list[DomainEvent], eligible: bool) -> None:
    circumstances, figures = FAMILY, FAMILY_FIGURES
    if not eligible:  # too much income, and no certificate for a disability subsidy
        circumstances = replace(
            FAMILY, monthly_income_total=Decimal(90000), disability_certificates=()
        )
        figures = replace(
            FAMILY_FIGURES, monthly_income_total=Decimal(90000), disability_certificates=()
        )
    assessment = await EligibilityActivities(context()).assess_eligibility(
        assess_request(circumstances)
    )
    [built] = recorded
    decision = decide(circumstances, date(2024, 3, 1), DEFAULT_POLICY)
    typed = d.EligibilityAssessed(
        case_id=CASE,
        stage="decide",
        decision_id="dec-1",
        decided_on=date(2024, 3, 1),
        eligible=eligible,
        programmes=expected_awards(circumstances),
        already_receiving=("disability_living_subsidy",),
        summary=assessment.summary,
        circumstances=figures,
        trace=tuple(cast(list[dict[str, Any]], decision.trace_to_dicts())),
    )
    assert bool(typed.programmes) is eligible
    assert any(a.one_off_amount is not None for a in typed.programmes) is eligible
    assert_same_data(typed, built)


async def test_enrollment_finalized_and_case_closed(recorded: list[DomainEvent]) -> None:
    decision = decide(FAMILY, date(2024, 3, 1), DEFAULT_POLICY)
    assessment = assessment_of(decision, assess_request())
    activities = EnrolmentActivities(context())
    await activities.finalize_enrolment(
        Enrolment(CASE, HOUSEHOLD, "yongding", True, "enrolled", AT, assessment, ("t1",))
    )
    cancelled = ev.visit_cancelled(CASE, Stage.CLOSED, "task-2", 2, "case enrolled")
    await activities.close_case(
        CaseClosing(
            CASE, HOUSEHOLD, "closed", AT, "enrolled", assessment.summary, ("t1",), (cancelled,)
        )
    )
    finalized, extra, closed = recorded
    assert extra is cancelled
    assert_same_data(
        d.EnrollmentFinalized(
            case_id=CASE,
            stage="enrol",
            district="yongding",
            urban=True,
            decision_id="dec-1",
            decided_at=AT,
            programmes=expected_awards(),
            circumstances=FAMILY_FIGURES,
            next_review_on=date(2025, 3, 1),
        ),
        finalized,
    )
    assert_same_data(
        d.CaseClosed(case_id=CASE, stage="closed", outcome="enrolled", reason=assessment.summary),
        closed,
    )


@pytest.mark.parametrize("outcome", ["all continue", "some end", "none continues"])
async def test_enrollment_reviewed(
    recorded: list[DomainEvent], monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    assessment = assessment_of(decide(FAMILY, date(2024, 3, 1), DEFAULT_POLICY), assess_request())
    awards = expected_awards()
    if outcome == "none continues":
        awards = tuple(a for a in awards if a.programme == "dibao")
    stored = dict(assessment.circumstances)
    del stored["district"], stored["urban"]  # the review takes them from the row then
    row = {
        "district": "yongding",
        "urban": True,
        "programmes": json.dumps([a.to_data() for a in awards]),
        "circumstances": json.dumps(stored),
        "status": "active",
        "next_review_on": date(2025, 3, 1),
    }
    income = Decimal(0) if outcome == "all continue" else Decimal(50000)
    facts = HouseholdFacts(monthly_income=income)
    monkeypatch.setattr(review, "read_household_facts", facts_reader(facts))
    request = ReviewRequest(CASE, HOUSEHOLD, date(2025, 3, 1), date(2025, 3, 3), AT)
    result = await ReviewActivities(context(ReviewConn(row))).review_enrolment(request)
    [built] = recorded
    recurring = tuple(a for a in awards if a.monthly_amount is not None)
    continued = tuple(a for a in recurring if a.programme in result.continued)
    assert len(continued) == {"all continue": 2, "some end": 1, "none continues": 0}[outcome]
    reviewed = d.EnrollmentReviewed(
        case_id=CASE,
        due_on=date(2025, 3, 1),
        reviewed_on=date(2025, 3, 3),
        status="active" if continued else "terminated",
        programmes=continued,
        ended=tuple(a.programme for a in recurring if a not in continued),
        next_review_on=date(2026, 3, 1) if continued else None,
        reason=str(built.data["reason"]),
        circumstances=replace(
            FAMILY_FIGURES,
            monthly_income_total=income,
            medical_out_of_pocket=(),
            existing_benefits=(),
        ),
        trace=tuple(built.data["trace"]),
    )
    assert_same_data(reviewed, built)
    assert "stage" not in built.data and "next_review_on" in built.data


# -- (3): stored data from the recorded histories ----------------------------------------------


def _payloads(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for payload in node.get("payloads") or ():
            try:
                yield json.loads(base64.b64decode(payload["data"]))
            except (KeyError, ValueError):
                continue
        for value in node.values():
            yield from _payloads(value)
    elif isinstance(node, list):
        for value in node:
            yield from _payloads(value)


def _domain_events(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        data = node.get("data")
        if {"type", "step", "data"} <= node.keys() and isinstance(data, dict) and "case_id" in data:
            yield str(node["type"]), data
        for value in node.values():
            yield from _domain_events(value)
    elif isinstance(node, list):
        for value in node:
            yield from _domain_events(value)


def recorded_events() -> list[tuple[str, dict[str, Any]]]:
    """Every domain event in the committed Temporal histories (activity inputs: the data the
    workflow handed over to be stored), v1/ and v2/ included."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(HISTORIES.rglob("*.json")):
        for payload in _payloads(json.loads(path.read_text())):
            found.extend(_domain_events(payload))
    return found


def test_every_recorded_event_parses_and_stores_back_unchanged() -> None:
    events = recorded_events()
    assert len(events) > 50
    seen: set[str] = set()
    for type_, data in events:
        event = d.parse(type_, data)
        assert isinstance(event, d.EVENT_TYPES[type_]), type_
        assert event.to_data() == data, type_
        assert json.dumps(event.to_data()) == json.dumps(data), type_
        seen.add(type_)
    # the activities build the others from their inputs (tested above)
    assert seen == set(d.EVENT_TYPES) - {
        "EconomicStatusChecked",
        "EligibilityAssessed",
        "EnrollmentFinalized",
        "EnrollmentReviewed",
        "CaseClosed",
    }


def test_recorded_shapes_include_the_irregular_ones() -> None:
    shapes = {(t, frozenset(data)) for t, data in recorded_events()}
    joined = {keys for t, keys in shapes if t == "TriggerJoined"}
    assert any("programmes" in k for k in joined) and any("programmes" not in k for k in joined)
    completed = {keys for t, keys in shapes if t == "VisitCompleted"}
    assert any("household_size" not in k for k in completed)
    assert any("household_size" in k and "personal" not in k for k in completed)


# -- (4): what is not a case's domain event ----------------------------------------------------


@pytest.mark.parametrize(
    "type_", [*sorted(known_types()), "facts.household.reported", "Noted", "", "caseopened"]
)
def test_other_types_are_not_case_events(type_: str) -> None:
    assert d.parse(type_, {"case_id": CASE, "stage": "visit"}) is None


def test_registry_covers_what_the_cases_projection_follows() -> None:
    assert set(d.EVENT_TYPES) == set(STAGE_AFTER) | {"EnrollmentReviewed"}
    assert all(name == cls.type for name, cls in d.EVENT_TYPES.items())
    for name, stage in STAGE_AFTER.items():
        cls = d.EVENT_TYPES[name]
        assert getattr(cls, "default_stage", None) == (stage or ""), name


# -- (5): tolerant reading ---------------------------------------------------------------------


def test_missing_optional_keys_get_the_projections_defaults() -> None:
    scheduled = d.parse(
        "VisitScheduled", {"case_id": CASE, "task_id": "t1", "due_at": "2026-03-05"}
    )
    assert scheduled == d.VisitScheduled(
        case_id=CASE, stage="visit", task_id="t1", due_at=datetime(2026, 3, 5)
    )
    assert d.VisitScheduled.from_data(
        {"case_id": CASE, "task_id": "t1", "attempt": 0, "kind": None, "district": None}
    ) == d.VisitScheduled(case_id=CASE, stage="visit", task_id="t1")
    opened = d.parse("CaseOpened", {"case_id": CASE, "district": "cili", "trigger": {"type": "x"}})
    assert opened == d.CaseOpened(
        case_id=CASE, stage="screening", district="cili", trigger=d.TriggerRef(type="x")
    )
    assert d.CaseOpened.from_data({"case_id": CASE}).trigger is None
    reminder = d.parse("ReminderSent", {"case_id": CASE, "channel": "sms"})
    assert reminder == d.ReminderSent(case_id=CASE, stage="notify", channel="sms", attempt=1)
    assert d.parse("CaseClosed", {"case_id": CASE, "outcome": "x"}) == d.CaseClosed(
        case_id=CASE, stage="closed", outcome="x"
    )
    assert d.parse("NoticeSent", {"case_id": CASE}) == d.NoticeSent(case_id=CASE, stage="")


def test_visit_completed_stage_and_figures_follow_found() -> None:
    missed = d.VisitCompleted.from_data({"case_id": CASE, "task_id": "t1", "found": False})
    assert (missed.stage, missed.figures, missed.notes, missed.visited_on) == (
        "visit",
        None,
        None,
        None,
    )
    found = d.VisitCompleted.from_data({"case_id": CASE, "task_id": "t1", "found": True})
    assert (found.stage, found.found, found.figures, found.attempt) == ("verify", True, None, 1)
    partial = d.VisitCompleted.from_data(
        {"case_id": CASE, "task_id": "t1", "found": True, "household_size": 2}
    )
    assert partial.figures == d.VisitFigures(household_size=2, monthly_income_total=Decimal(0))


def test_personal_members_read_back_as_none_when_not_in_clear() -> None:
    base = {"case_id": CASE, "stage": "verify", "task_id": "t1", "found": False}
    shredded = {**base, "personal": {"shredded": True}}
    assert d.VisitCompleted.from_data(shredded).notes is None
    assert d.VisitCompleted.from_data(base).notes is None  # read with decrypt=False
    withdrawn = d.CaseWithdrawn.from_data({"case_id": CASE, "stage": "closed", "recorded_by": "w"})
    assert withdrawn.reason is None and "personal" not in withdrawn.to_data()
    objection = d.ObjectionRaised.from_data({"case_id": CASE, "personal": {"shredded": True}})
    assert objection.summary is None and objection.stage == "verify"


def test_old_award_shapes_parse() -> None:
    assessed = d.parse(
        "EligibilityAssessed", {"case_id": CASE, "eligible": True, "programmes": ["dibao"]}
    )
    assert isinstance(assessed, d.EligibilityAssessed)
    assert assessed.programmes == (d.Award(programme="dibao"),)
    assert (assessed.stage, assessed.circumstances, assessed.trace) == ("decide", None, ())
    finalized = d.EnrollmentFinalized.from_data(
        {"case_id": CASE, "programmes": [{"programme": "dibao"}]}
    )
    assert finalized.programmes == (d.Award(programme="dibao"),)
    assert finalized.to_data()["programmes"] == [{"programme": "dibao"}]
    assert (finalized.stage, finalized.urban, finalized.next_review_on) == ("enrol", False, None)
    assert finalized.to_data()["circumstances"] == {}  # as an Assessment without figures
    opened = d.CaseOpened.from_data({"case_id": CASE, "programmes": [{"programme": "tekun"}]})
    assert opened.programmes == ("tekun",)


def test_review_defaults_and_null_next_review() -> None:
    reviewed = d.EnrollmentReviewed.from_data(
        {"case_id": CASE, "status": "terminated", "next_review_on": None}
    )
    assert (reviewed.status, reviewed.next_review_on, reviewed.programmes) == (
        "terminated",
        None,
        (),
    )
    assert reviewed.to_data()["next_review_on"] is None
    assert d.EnrollmentReviewed.from_data({"case_id": CASE}).status == "active"
    figures = d.Circumstances.from_data({"household_size": 3})
    assert figures == d.Circumstances(household_size=3)
    assert figures is not None and figures.urban and figures.has_supporter


def test_unknown_extra_keys_are_ignored() -> None:
    data = {"case_id": CASE, "stage": "closed", "outcome": "declined", "reason": "r", "new": 1}
    assert d.parse("CaseClosed", data) == d.CaseClosed(
        case_id=CASE, stage="closed", outcome="declined", reason="r"
    )


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        ("CaseOpened", {"district": "cili"}),
        ("CaseClosed", {"case_id": ""}),
        ("CaseClosed", {"case_id": 7}),
        ("VisitScheduled", {"case_id": CASE}),
        ("VisitCompleted", {"case_id": CASE, "found": True}),
        ("VisitScheduled", {"case_id": CASE, "task_id": "t1", "due_at": "soon"}),
        ("ReminderSent", {"case_id": CASE, "attempt": "second"}),
        ("EconomicStatusChecked", {"case_id": CASE, "monthly_income_total": "a lot"}),
        (
            "EligibilityAssessed",
            {"case_id": CASE, "circumstances": {"disability_certificates": [{}]}},
        ),
    ],
)
def test_what_the_projections_skip_is_invalid(type_: str, data: dict[str, Any]) -> None:
    with pytest.raises(d.InvalidDomainEvent):
        d.parse(type_, data)


def test_events_are_immutable() -> None:
    event = d.CaseClosed(case_id=CASE, stage="closed")
    with pytest.raises(AttributeError):
        event.outcome = "x"  # type: ignore[misc]

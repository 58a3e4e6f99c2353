"""The case workflow's pure parts: screening, the approval rule, visit-result checks, the
circumstances handed to the policy engine, verification, idempotency keys, review dates."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from outreach.activities.enrolment import next_review_on
from outreach.activities.facts import monthly_amount
from outreach.activities.keys import decision_id, step_id, task_id
from outreach.activities.review import review_circumstances
from outreach.activities.verification import compare
from outreach.policy.circumstances import LaborCapacity
from outreach.workflows.approval import approval_rule
from outreach.workflows.case_circumstances import circumstances_for
from outreach.workflows.case_contract import MemberFacts, Trigger, VisitAssets, VisitResult
from outreach.workflows.case_data import (
    AwardLine,
    EconomicCheck,
    EconomicCheckRequest,
    HouseholdFacts,
)
from outreach.workflows.clock import local_date
from outreach.workflows.screening import screen
from outreach.workflows.visit_validation import visit_result_problems

T0 = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
NO_FACTS = HouseholdFacts()
TRIGGER = Decimal(10000)


def trigger(event_type: str, **facts: object) -> Trigger:
    base = Trigger(
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        source="/agencies/x",
        occurred_at=T0,
        household_key="k",
        district="yongding",
        urban=True,
    )
    return replace(base, **facts)  # type: ignore[arg-type]


# -- screening -------------------------------------------------------------------------------


def test_severe_certificate_suggests_nursing_living_subsidy_and_dibao() -> None:
    result = screen(
        [
            trigger(
                "disability.certificate.issued", certificate_category="mental", certificate_grade=3
            )
        ],
        NO_FACTS,
        TRIGGER,
    )
    assert result.programmes == (
        "dibao",
        "disability_living_subsidy",
        "disability_nursing_subsidy",
    )


def test_mild_certificate_suggests_no_nursing_subsidy() -> None:
    result = screen(
        [
            trigger(
                "disability.certificate.issued",
                certificate_category="physical",
                certificate_grade=4,
            )
        ],
        NO_FACTS,
        TRIGGER,
    )
    assert "disability_nursing_subsidy" not in result.programmes


def test_hospital_bill_counts_from_the_trigger_amount() -> None:
    at = screen([trigger("medical.settlement.recorded", out_of_pocket=TRIGGER)], NO_FACTS, TRIGGER)
    below = screen(
        [trigger("medical.settlement.recorded", out_of_pocket=Decimal("9999.99"))],
        NO_FACTS,
        TRIGGER,
    )
    assert at.programmes == ("dibao", "temporary_assistance")
    assert not below.any and "below 10000" in below.reasons[0]


def test_monitoring_listing_with_a_member_unable_to_work_suggests_tekun() -> None:
    members = (MemberFacts("householder", "none", 70), MemberFacts("spouse", "partial", 68))
    result = screen([trigger("monitoring.household.listed", members=members)], NO_FACTS, TRIGGER)
    assert result.programmes == ("dibao", "tekun")


def test_programmes_already_received_are_not_offered_again() -> None:
    facts = HouseholdFacts(benefits=("dibao", "temporary_assistance"))
    result = screen(
        [trigger("medical.settlement.recorded", out_of_pocket=Decimal(20000))], facts, TRIGGER
    )
    assert result.programmes == ("temporary_assistance",)
    assert "already receives dibao" in result.reasons


def test_renewal_reminder_suggests_nothing() -> None:
    assert not screen([trigger("disability.certificate.expiring")], NO_FACTS, TRIGGER).any


# -- approval ---------------------------------------------------------------------------------


def award(programme: str) -> AwardLine:
    return AwardLine(programme, date(2024, 3, 1), monthly_amount=Decimal(80))


def test_means_tested_awards_need_approval_certificate_ones_do_not() -> None:
    assert approval_rule([award("dibao")]).required
    assert approval_rule([award("disability_nursing_subsidy"), award("tekun")]).required
    rule = approval_rule([award("disability_nursing_subsidy")])
    assert not rule.required and "certificate-based" in rule.reason


# -- visit results ----------------------------------------------------------------------------

TODAY = date(2024, 3, 10)
OPENED = date(2024, 3, 1)


def visit(**changes: object) -> VisitResult:
    base = VisitResult(
        task_id="t",
        visited_on=TODAY,
        found=True,
        household_size=2,
        monthly_income_total=Decimal(100),
        labor_capacity=(LaborCapacity.NONE, LaborCapacity.FULL),
        consent_to_check=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_complete_visit_result_passes() -> None:
    assert visit_result_problems(visit(), TODAY, OPENED) == []
    assert visit_result_problems(VisitResult("t", TODAY, found=False), TODAY, OPENED) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"visited_on": TODAY + timedelta(days=1)}, "in the future"),
        ({"visited_on": OPENED - timedelta(days=1)}, "before the case opened"),
        ({"household_size": None}, "household_size is required"),
        ({"household_size": 31, "labor_capacity": (LaborCapacity.NONE,) * 31}, "1-30"),
        ({"monthly_income_total": Decimal("-0.01")}, "non-negative"),
        ({"monthly_income_total": Decimal("NaN")}, "non-negative"),
        ({"labor_capacity": (LaborCapacity.NONE,)}, "one entry per member"),
        ({"assets": VisitAssets(homes=-1)}, "must not be negative"),
        ({"assets": VisitAssets(financial_assets=Decimal(-5))}, "financial_assets"),
        ({"notes": "x" * 4001}, "notes longer"),
    ],
)
def test_bad_visit_results_name_their_problem(changes: dict[str, object], problem: str) -> None:
    problems = visit_result_problems(visit(**changes), TODAY, OPENED)
    assert any(problem in p for p in problems), problems


# -- circumstances and verification ------------------------------------------------------------


def test_circumstances_combine_visit_check_and_triggers() -> None:
    triggers = [
        trigger(
            "disability.certificate.issued", certificate_category="physical", certificate_grade=4
        ),
        trigger(
            "disability.certificate.issued", certificate_category="visual", certificate_grade=1
        ),
        trigger(
            "disability.certificate.issued", certificate_category="mental", certificate_grade=2
        ),
        trigger("medical.settlement.recorded", out_of_pocket=Decimal(12000)),
    ]
    check = EconomicCheck(Decimal(300), VisitAssets(homes=1), ("dibao", "unknown"), ())
    c = circumstances_for("Yongding", True, visit(), check, triggers)
    assert c.household_size == 2 and c.monthly_income_total == Decimal(300)
    # Two members, three certificates: the two most severe are kept.
    assert [(d.category.value, d.grade) for d in c.disability_certificates] == [
        ("visual", 1),
        ("mental", 2),
    ]
    assert c.medical_out_of_pocket == (Decimal(12000),)
    assert [p.value for p in c.existing_benefits] == ["dibao"]
    assert c.has_supporter  # unknown counts as yes
    assert not circumstances_for("x", True, visit(has_supporter=False), check, []).has_supporter


def test_verification_uses_the_larger_figures_and_lists_discrepancies() -> None:
    request = EconomicCheckRequest(
        case_id="c",
        household_key="k",
        step="economic-check-1",
        at=T0,
        household_size=2,
        monthly_income_total=Decimal(500),
        assets=VisitAssets(homes=1, vehicles=0, financial_assets=Decimal(1000)),
    )
    facts = HouseholdFacts(
        monthly_income=Decimal(800), pension_monthly=Decimal(200), vehicles=1, homes=1
    )
    check = compare(request, facts)
    assert check.monthly_income_total == Decimal(1000)
    assert check.assets == VisitAssets(homes=1, vehicles=1, financial_assets=Decimal(1000))
    assert len(check.discrepancies) == 2
    assert compare(request, HouseholdFacts()).discrepancies == ()


def test_fact_amounts_become_monthly() -> None:
    assert monthly_amount(Decimal(12000), "year") == Decimal("1000.00")
    assert monthly_amount(Decimal(300), None) == Decimal("300.00")
    assert monthly_amount(Decimal(100), "week") == Decimal("433.33")


def test_review_refreshes_stored_figures_with_facts() -> None:
    stored = {
        "district": "cili",
        "urban": False,
        "household_size": 3,
        "monthly_income_total": "200",
        "labor_capacities": ["none", "full", "full"],
        "assets": {"vehicles": 0, "homes": 1, "business_premises": 0, "financial_assets": "10"},
        "disability_certificates": [{"category": "physical", "grade": 2}],
    }
    c = review_circumstances(stored, HouseholdFacts(monthly_income=Decimal(3000), vehicles=1))
    assert c.monthly_income_total == Decimal(3000) and c.assets.vehicles == 1
    assert not c.urban and c.disability_certificates[0].grade == 2


# -- keys and dates -----------------------------------------------------------------------------


def test_step_ids_are_stable_and_distinct() -> None:
    case = str(uuid.uuid4())
    assert step_id(case, "reminder-1") == step_id(case, "reminder-1")
    assert step_id(case, "reminder-1") != step_id(case, "reminder-2")
    assert step_id(case, "notice") != step_id(str(uuid.uuid4()), "notice")
    assert task_id(case, 1) == str(step_id(case, "visit-scheduled-1"))
    assert decision_id(case, 2) == str(step_id(case, "decision-2"))
    assert step_id("not-a-uuid", "x") == step_id("not-a-uuid", "x")


def test_bureau_dates_are_china_dates_and_reviews_a_year_on() -> None:
    assert local_date(datetime(2022, 12, 31, 16, 30, tzinfo=UTC)) == date(2023, 1, 1)
    assert next_review_on(date(2024, 2, 29)) == date(2025, 2, 28)
    assert next_review_on(date(2024, 7, 1)) == date(2025, 7, 1)

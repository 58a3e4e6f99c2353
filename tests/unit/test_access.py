"""Who may see and do what (pure parts of ``outreach.cases.access``), and the API's request
bodies turned into the case's update inputs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from outreach.cases.access import Action, Principal, Role, local_operator
from outreach.cases.commands import ApprovalIn, ObjectionIn, VisitResultIn
from outreach.policy.circumstances import LaborCapacity

CASEWORKER = Principal("cw", Role.CASEWORKER, frozenset({"cili", "sangzhi"}))
SUPERVISOR = Principal("sup", Role.SUPERVISOR, frozenset({"cili"}))
OPS = Principal("ops", Role.OPS, None)


def test_districts_bound_what_a_principal_sees() -> None:
    assert CASEWORKER.may_see("cili") and CASEWORKER.may_see("sangzhi")
    assert not CASEWORKER.may_see("yongding")
    assert not CASEWORKER.may_see(None)  # a case without a district is nobody's district
    assert OPS.may_see("yongding") and OPS.may_see(None)


def test_a_listing_filter_narrows_never_widens() -> None:
    assert CASEWORKER.visible(None) == frozenset({"cili", "sangzhi"})
    assert CASEWORKER.visible("cili") == frozenset({"cili"})
    assert CASEWORKER.visible("yongding") == frozenset()
    assert OPS.visible(None) is None
    assert OPS.visible("yongding") == frozenset({"yongding"})


def test_roles_decide_the_actions() -> None:
    assert CASEWORKER.may(Action.COMPLETE_VISIT) and CASEWORKER.may(Action.RAISE_OBJECTION)
    assert not CASEWORKER.may(Action.APPROVE)
    assert all(SUPERVISOR.may(a) for a in Action)
    assert not any(OPS.may(a) for a in Action)
    operator = local_operator()
    assert operator.name.startswith("cli:") and operator.districts is None
    assert all(operator.may(a) for a in Action)


def test_a_visit_body_becomes_the_case_update() -> None:
    body = VisitResultIn.model_validate(
        {
            "visited_on": "2024-03-04",
            "found": True,
            "household_size": 3,
            "monthly_income_total": "1200.50",
            "labor_capacity": "partial",  # one value for every member
            "consent_to_check": True,
            "assets": {"homes": 1, "financial_assets": 800},
            "notes": "n",
        }
    )
    result = body.to_result("task-1")
    assert result.task_id == "task-1" and result.visited_on == date(2024, 3, 4)
    assert result.labor_capacity == (LaborCapacity.PARTIAL,) * 3
    assert result.monthly_income_total == Decimal("1200.50")
    assert result.assets.homes == 1 and result.assets.financial_assets == Decimal(800)
    listed = VisitResultIn.model_validate(
        {"visited_on": "2024-03-04", "found": True, "labor_capacity": ["none", "full"]}
    ).to_result("t")
    assert listed.labor_capacity == (LaborCapacity.NONE, LaborCapacity.FULL)
    absent = VisitResultIn.model_validate({"visited_on": "2024-03-04", "found": False})
    assert absent.to_result("t").labor_capacity == ()


@pytest.mark.parametrize(
    "body",
    [
        {"visited_on": "2024-03-04"},
        {"visited_on": "2024-03-04", "found": True, "household_size": 31},
        {"visited_on": "2024-03-04", "found": True, "monthly_income_total": "NaN"},
        {"visited_on": "2024-03-04", "found": True, "assets": {"homes": -1}},
        {"visited_on": "2024-03-04", "found": True, "assets": {"yachts": 1}},
        {"visited_on": "2024-03-04", "found": True, "notes": "x" * 4001},
        {"visited_on": "2024-03-04", "found": True, "name": "张三"},
    ],
)
def test_visit_bodies_that_do_not_fit(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        VisitResultIn.model_validate(body)


def test_objection_and_approval_bodies() -> None:
    with pytest.raises(ValidationError):
        ObjectionIn.model_validate({"summary": "   ", "received_on": "2024-03-04"})
    assert (
        ObjectionIn.model_validate({"summary": "s", "received_on": "2024-03-04"}).objection_id
        is None
    )
    assert ApprovalIn.model_validate({}).approved is True
    with pytest.raises(ValidationError):
        ApprovalIn.model_validate({"approved": True, "supervisor": "someone else"})

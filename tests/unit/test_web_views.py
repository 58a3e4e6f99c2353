# ruff: noqa: RUF001  (the page speaks Chinese: full-width punctuation in its labels)
"""The web page's pure parts: the zh-CN/en catalogue, the timeline and decision trace made
readable, the visit form's parsing, and the session helpers."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from starlette.datastructures import FormData

from outreach.cases.views import TimelineEntry
from outreach.events.registry import known_types
from outreach.policy.circumstances import LaborCapacity
from outreach.policy.programmes import Programme
from outreach.policy.trace import ParameterUsed, RuleCheck
from outreach.web.i18n import LABELS, LANGS, MESSAGES, translator
from outreach.web.session import csrf_token, safe_next
from outreach.web.timeline import entry_view, local_time, readable, trace_rows
from outreach.web.visit_form import VisitForm, parse_visit_form
from outreach.workflows import case_events
from outreach.workflows.case_contract import Stage

ZH = translator("zh-CN")
EN = translator("en")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("catalogue", [MESSAGES, LABELS], ids=["messages", "labels"])
def test_every_entry_has_both_languages_with_the_same_placeholders(
    catalogue: dict[str, dict[str, str]],
) -> None:
    for key, texts in catalogue.items():
        assert set(texts) == set(LANGS), key
        assert all(t.strip() for t in texts.values()), key
        assert _placeholders(texts["zh-CN"]) == _placeholders(texts["en"]), key


def test_the_services_vocabulary_has_labels() -> None:
    documented = re.findall(r"^([A-Z][A-Za-z]+)\s{2,}", case_events.__doc__ or "", re.MULTILINE)
    assert len(documented) > 10
    events = {*documented, "EconomicStatusChecked", "EligibilityAssessed", "EnrollmentReviewed"}
    for kind, codes in {
        "stage": [s.value for s in Stage],
        "programme": [p.value for p in Programme],
        "labor": [c.value for c in LaborCapacity],
        "outcome": ["enrolled", "not_eligible", "declined", "unreachable", "withdrawn"],
        "event": [*events, *known_types()],
    }.items():
        missing = [c for c in codes if not ZH.has_label(kind, c)]
        assert not missing, f"{kind} labels missing: {missing}"


def test_translator_defaults_to_chinese_and_falls_back_to_the_code() -> None:
    assert translator(None).lang == "zh-CN" and translator("fr").lang == "zh-CN"
    assert ZH.label("stage", "visit") == "入户走访" and EN.label("stage", "visit") == "visit"
    assert ZH.label("event", "SomethingNew") == "SomethingNew"
    assert ZH.label("stage", None) == "—"
    assert ZH.t("tasks.count", n=3, overdue=1) == "共 3 项，其中 1 项已逾期。"
    assert ZH.other == "en" and EN.other == "zh-CN"


def _trace() -> list[Any]:
    return [
        RuleCheck(
            rule="dibao.income_below_standard",
            programme="dibao",
            passed=True,
            explanation="per-capita monthly income 0.00 is below 650",
            inputs={"household_size": 2, "monthly_income_total": Decimal("0"), "urban": True},
            parameters=(
                ParameterUsed(
                    name="urban_dibao_standard",
                    value=Decimal(650),
                    unit="yuan/person/month",
                    effective_from=date(2023, 1, 1),
                    applies_to="yongding",
                ),
            ),
        ).to_dict(),
        RuleCheck(
            rule="tekun.no_labor_capacity",
            programme="tekun",
            passed=False,
            explanation="1 member(s) with full or partial labour capacity",
            inputs={"labor_capacities": ("none", "partial")},
            parameters=(ParameterUsed("asset_max_homes", Decimal(1), "homes", date(1, 1, 1)),),
        ).to_dict(),
    ]


def test_the_decision_trace_becomes_rows_with_dated_district_parameters() -> None:
    passed, failed = trace_rows(_trace(), ZH)
    assert passed.rule == "dibao.income_below_standard"
    assert passed.programme == "最低生活保障（低保）" and passed.passed
    assert ("household_size", "2") in passed.inputs and ("urban", "是") in passed.inputs
    (parameter,) = passed.parameters
    assert parameter.name == "urban_dibao_standard"
    assert parameter.value == "650 yuan/person/month"
    assert parameter.effective_from == "2023-01-01" and parameter.applies_to == "yongding"
    assert not failed.passed
    assert ("labor_capacities", "none、partial") in failed.inputs
    assert failed.parameters[0].effective_from == "长期有效"  # a flat value: no date
    assert failed.parameters[0].applies_to == "default"
    assert trace_rows("not a trace", ZH) == [] and trace_rows([1, None], ZH) == []


def _entry(type_: str, data: dict[str, Any], personal: dict[str, Any] | None = None) -> Any:
    moment = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    return TimelineEntry(
        position=7,
        event_id="e-1",
        type=type_,
        occurred_at=moment,
        recorded_at=moment,
        source="/outreach",
        data={"case_id": "c-1", **data},
        personal=personal,
        has_personal=personal is not None,
    )


def test_an_assessment_entry_lists_awards_and_trace_apart_from_its_fields() -> None:
    view = entry_view(
        _entry(
            "EligibilityAssessed",
            {
                "stage": "decide",
                "eligible": True,
                "programmes": [
                    {
                        "programme": "dibao",
                        "monthly_amount": "1300.00",
                        "effective_from": "2026-03-02",
                    },
                    {"programme": "temporary_assistance", "one_off_amount": "3900.00"},
                ],
                "trace": _trace(),
            },
        ),
        ZH,
    )
    assert view.label == "资格审核" and view.time == "2026-03-02 00:30"  # UTC+8
    labels = dict(view.fields)
    assert labels == {"阶段": "审核决定", "符合条件": "是"}  # no case id, no raw trace
    assert [(a.programme, a.amount) for a in view.awards] == [
        ("最低生活保障（低保）", "每月 1300.00 元"),
        ("临时救助", "一次性 3900.00 元"),
    ]
    assert len(view.trace) == 2


def test_entries_show_personal_fields_flattened_or_that_they_were_erased() -> None:
    view = entry_view(
        _entry(
            "medical.settlement.recorded",
            {"household": {"district": "cili", "urban": False}},
            {"person": {"name": "张三", "id_number": "430802199001011234"}},
        ),
        EN,
    )
    assert view.label == "Hospital settlement"
    assert view.fields == [("household", "district: cili; urban: no")]
    assert view.personal == [
        ("person / name", "张三"),
        ("person / ID number", "430802199001011234"),
    ]
    shredded = entry_view(_entry("VisitCompleted", {}, {"shredded": True}), ZH)
    assert shredded.shredded and shredded.personal is None
    hidden = entry_view(_entry("VisitCompleted", {"found": False}), ZH)
    assert hidden.personal is None and not hidden.has_personal


def test_readable_values() -> None:
    assert readable("trigger", {"type": "disability.certificate.issued", "event_id": "x"}, ZH) == (
        "残联：残疾证核发"
    )
    assert (
        readable("programmes", ["dibao", "tekun"], EN)
        == "dibao (minimum living allowance)、tekun (destitute support)"
    )
    assert readable("programmes", [], ZH) == "无"
    assert readable("due_at", "2026-03-01T16:30:00+00:00", ZH) == "2026-03-02 00:30"
    assert readable("outcome", "enrolled", ZH) == "已纳入保障"
    assert readable("x", None, ZH) == "—"
    assert local_time("not a time") == "not a time" and local_time(None) == "—"


def _form(*pairs: tuple[str, str]) -> FormData:
    return FormData(list(pairs))


def test_a_found_household_becomes_a_visit_result() -> None:
    entered, body, problems = parse_visit_form(
        _form(
            ("visited_on", "2026-03-01"),
            ("found", "yes"),
            ("household_size", "2"),
            ("monthly_income_total", "800.50"),
            ("labor_capacity", "none"),
            ("labor_capacity", "full"),
            ("consent_to_check", "yes"),
            ("has_supporter", "no"),
            ("homes", "1"),
            ("vehicles", ""),
            ("financial_assets", "1000"),
            ("notes", " 家中无稳定收入 "),
        )
    )
    assert problems == [] and body is not None
    result = body.to_result("t-1")
    assert result.visited_on == date(2026, 3, 1) and result.found
    assert result.household_size == 2 and result.monthly_income_total == Decimal("800.50")
    assert result.labor_capacity == (LaborCapacity.NONE, LaborCapacity.FULL)
    assert result.consent_to_check and result.has_supporter is False
    assert result.assets.homes == 1 and result.assets.vehicles == 0
    assert result.assets.financial_assets == Decimal(1000)
    assert result.notes == " 家中无稳定收入 "  # notes as typed
    assert entered.member_rows == ["none", "full"]


def test_nobody_reached_sends_only_the_date_and_notes() -> None:
    _, body, problems = parse_visit_form(
        _form(("visited_on", "2026-03-01"), ("found", "no"), ("household_size", "3"))
    )
    assert problems == [] and body is not None
    assert not body.found and body.household_size is None and body.labor_capacity == []


def test_what_does_not_fit_is_reported_and_kept() -> None:
    entered, body, problems = parse_visit_form(
        _form(
            ("visited_on", "yesterday"),
            ("found", "yes"),
            ("household_size", "3"),
            ("monthly_income_total", "12o0"),
            ("labor_capacity", "none"),
        )
    )
    assert body is None
    assert {p.split(":")[0] for p in problems} == {"visited_on", "monthly_income_total"}
    assert entered.monthly_income_total == "12o0" and entered.visited_on == "yesterday"
    assert entered.member_rows == ["none", "", ""]  # one row per member to fill in
    assert VisitForm.new(date(2026, 3, 1)).member_rows == [""]


def test_next_stays_on_the_site_and_csrf_tokens_belong_to_their_session() -> None:
    assert safe_next("/cases/1?x=2") == "/cases/1?x=2"
    for bad in (None, "", "https://evil.example/", "//evil.example", "/\\evil", "cases"):
        assert safe_next(bad) == "/"
    assert csrf_token("otk_a") == csrf_token("otk_a") != csrf_token("otk_b")
    assert re.fullmatch(r"[0-9a-f]{64}", csrf_token("otk_a"))

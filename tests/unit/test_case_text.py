"""The CLI's plain-text rendering (``case_text``) and ``tasks complete``'s argument handling."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from outreach.cases import text as case_text
from outreach.cases.commands import VisitResultIn
from outreach.cases.views import TimelineEntry
from outreach.cli.cases import BadArguments, validation_text, visit_body
from outreach.cli.main import build_parser
from outreach.infra.temporal import workflow_ui_url

AT = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


def entry(
    type_: str,
    data: dict[str, object],
    *,
    personal: dict[str, object] | None = None,
    has_personal: bool = False,
) -> TimelineEntry:
    return TimelineEntry(
        position=7,
        event_id="e-1",
        type=type_,
        occurred_at=AT,
        recorded_at=AT,
        source=None,
        data=data,
        personal=personal,
        has_personal=has_personal,
    )


def test_table_aligns_wide_characters() -> None:
    text = case_text.table(("A", "B"), [("永定区", "x"), ("cili", "y")])
    lines = text.splitlines()
    assert [case_text.width(ln.rstrip()[:-1]) for ln in lines[1:]] == [8, 8]
    assert lines[0] == "A       B"


def test_local_time_is_iso_in_the_local_zone() -> None:
    assert case_text.local_time(AT) == AT.astimezone().isoformat(timespec="seconds")
    assert case_text.local_time("2024-03-01T08:30:00+00:00") == case_text.local_time(AT)
    assert case_text.local_time(None) == "-"


def test_event_summary_is_compact() -> None:
    summary = case_text.event_summary(
        {
            "case_id": "c-1",
            "found": True,
            "programmes": [
                {"programme": "dibao", "monthly_amount": "2600.00"},
                {"programme": "temporary_assistance", "one_off_amount": "3900.00"},
            ],
            "summary": "awarded dibao",
            "trace": [{"passed": True}, {"passed": False}],
        }
    )
    assert "case_id" not in summary
    assert summary.startswith("found=true programmes=[dibao 2600.00/month,temporary_assistance")
    assert 'summary="awarded dibao"' in summary
    assert summary.endswith("trace=2 checks (1 failed)")
    long = case_text.event_summary({"notes": "x" * 500})
    assert len(long) <= 160 and long.endswith("…")


def test_personal_fields_in_the_timeline() -> None:
    shown = entry("VisitCompleted", {}, personal={"notes": "无收入"}, has_personal=True)
    hidden = entry("VisitCompleted", {}, has_personal=True)
    shredded = entry("VisitCompleted", {}, personal={"shredded": True}, has_personal=True)
    lines = case_text.timeline_lines([shown, hidden, shredded, entry("CaseOpened", {})])
    assert lines[0].split()[0] == "7" and "VisitCompleted" in lines[0]
    assert lines[1].strip() == "personal: notes=无收入"
    assert lines[3].strip() == "personal: (personal fields not shown)"
    assert lines[5].strip() == "personal: (personal fields crypto-shredded)"
    assert "CaseOpened" in lines[6] and len(lines) == 7


def test_trace_lines_name_rule_outcome_and_parameters() -> None:
    lines = case_text.trace_lines(
        [
            {
                "rule": "dibao.income_below_standard",
                "programme": "dibao",
                "passed": False,
                "explanation": "income above standard",
                "parameters": [
                    {
                        "name": "urban_dibao_standard",
                        "value": "650",
                        "unit": "yuan",
                        "effective_from": "2023-01-01",
                    }
                ],
            }
        ]
    )
    assert lines == [
        "FAIL  dibao  dibao.income_below_standard: income above standard",
        "      urban_dibao_standard = 650 yuan (since 2023-01-01)",
    ]


def test_workflow_url() -> None:
    assert workflow_ui_url(None, "default", "w") is None
    assert (
        workflow_ui_url("http://ui:8233/", "default", "outreach-case-k")
        == "http://ui:8233/namespaces/default/workflows/outreach-case-k"
    )


def complete_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["tasks", "complete", "t-1", *argv])


def test_visit_flags_make_the_api_body() -> None:
    args = complete_args(
        "--visited-on=2024-03-01",
        "--found",
        "--household-size=3",
        "--monthly-income=800.50",
        "--labor-capacity=none",
        "--no-consent",
        "--homes=1",
        "--financial-assets=2000",
        "--notes=无",
    )
    body = visit_body(args)
    assert body == {
        "visited_on": "2024-03-01",
        "found": True,
        "household_size": "3",
        "monthly_income_total": "800.50",
        "labor_capacity": ["none", "none", "none"],
        "consent_to_check": False,
        "notes": "无",
        "assets": {"homes": "1", "financial_assets": "2000"},
    }
    result = VisitResultIn.model_validate(body).to_result("t-1")
    assert result.household_size == 3 and len(result.labor_capacity) == 3
    assert str(result.assets.financial_assets) == "2000"


def test_visit_flags_errors_name_the_flags() -> None:
    args = complete_args("--visited-on=2024-02-30", "--found", "--labor-capacity=full,lazy")
    with pytest.raises(ValidationError) as caught:
        VisitResultIn.model_validate(visit_body(args))
    text = validation_text(caught.value, flags=True)
    assert "--visited-on:" in text
    assert "--labor-capacity (entry 2):" in text and "'lazy'" in text


def test_visit_needs_date_and_found_or_a_json_body(tmp_path: Path) -> None:
    with pytest.raises(BadArguments, match="--visited-on"):
        visit_body(complete_args("--found"))
    body = tmp_path / "visit.json"
    body.write_text(json.dumps({"visited_on": "2024-03-01", "found": False}))
    assert visit_body(complete_args(f"--from-json={body}")) == {
        "visited_on": "2024-03-01",
        "found": False,
    }
    with pytest.raises(BadArguments, match="drop --found"):
        visit_body(complete_args(f"--from-json={body}", "--found"))
    body.write_text("[1, 2]")
    with pytest.raises(BadArguments, match="JSON object"):
        visit_body(complete_args(f"--from-json={body}"))
    with pytest.raises(BadArguments, match="cannot read"):
        visit_body(complete_args(f"--from-json={tmp_path / 'missing.json'}"))

"""Plain-text rendering of the case views for a terminal: the CLI's human output."""

# Pure functions, no I/O. Times are shown in the machine's local time zone, ISO 8601 to the
# second; tables align East Asian wide characters (district names, notes in Chinese) by their
# display width.

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from outreach.cases.views import CaseDetail, CaseRow, TaskRow, TimelineEntry

__all__ = [
    "award_text",
    "case_text",
    "cases_table",
    "event_summary",
    "local_time",
    "personal_text",
    "table",
    "tasks_table",
    "timeline_lines",
    "trace_lines",
]

NONE: Final = "-"
_SUMMARY_WIDTH: Final = 160
_VALUE_WIDTH: Final = 60
_SKIPPED: Final = frozenset({"case_id", "trace", "decision_trace", "circumstances"})
"""Data keys left out of a one-line summary (the case is known; a trace has its own lines)."""


def local_time(value: datetime | str | None) -> str:
    """``value`` in local time, ISO 8601 to the second (``-`` for none)."""
    if value is None:
        return NONE
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    return value.astimezone().isoformat(timespec="seconds")


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns separated by two spaces, headers first, no trailing blanks."""
    body = [list(headers), *([str(c) for c in row] for row in rows)]
    widths = [max(width(row[i]) for row in body) for i in range(len(headers))]
    lines = []
    for row in body:
        cells = [_pad(cell, widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def award_text(award: Mapping[str, Any]) -> str:
    """``dibao 2600.00/month`` or ``temporary_assistance 3900.00 once``."""
    name = str(award.get("programme", "?"))
    if award.get("monthly_amount") is not None:
        return f"{name} {award['monthly_amount']}/month"
    if award.get("one_off_amount") is not None:
        return f"{name} {award['one_off_amount']} once"
    return name


def programmes_text(programmes: Sequence[Any]) -> str:
    if not programmes:
        return NONE
    return ", ".join(award_text(p) if isinstance(p, Mapping) else str(p) for p in programmes)


def _state(case: CaseRow) -> str:
    return case.status if case.outcome is None else f"{case.status}/{case.outcome}"


def cases_table(cases: Sequence[CaseRow]) -> str:
    if not cases:
        return "no cases"
    return table(
        ("CASE", "DISTRICT", "STAGE", "STATUS", "OPENED", "PROGRAMMES"),
        (
            (
                c.case_id,
                c.district or NONE,
                c.stage,
                _state(c),
                local_time(c.opened_at),
                programmes_text(c.programmes),
            )
            for c in cases
        ),
    )


def _task_state(task: TaskRow) -> str:
    state = task.status
    if task.status != "open" and task.found is not None:
        state += " (found)" if task.found else " (not found)"
    if task.overdue:
        state += " OVERDUE"
    if task.escalated:
        state += " escalated"
    return state


def tasks_table(tasks: Sequence[TaskRow], *, with_case: bool = True) -> str:
    if not tasks:
        return "no visit tasks"
    headers = ["TASK", "CASE", "DISTRICT", "KIND", "ATTEMPT", "STATUS", "DUE", "STAGE"]
    if not with_case:
        headers.remove("CASE")
    rows = []
    for t in tasks:
        row = [
            t.task_id,
            t.case_id,
            t.district,
            t.kind,
            str(t.attempt),
            _task_state(t),
            local_time(t.due_at),
            t.stage or NONE,
        ]
        if not with_case:
            del row[1]
        rows.append(row)
    return table(headers, rows)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
            return local_time(value)  # a timestamp
        shown = json.dumps(value, ensure_ascii=False) if (" " in value or not value) else value
        return _shorten(shown, _VALUE_WIDTH)
    if isinstance(value, Mapping):
        if "programme" in value:
            return award_text(value)
        inner = ",".join(f"{k}={_compact(v)}" for k, v in value.items())
        return _shorten("{" + inner + "}", _VALUE_WIDTH)
    if isinstance(value, list | tuple):
        return _shorten("[" + ",".join(_compact(v) for v in value) + "]", _VALUE_WIDTH)
    return _shorten(str(value), _VALUE_WIDTH)


def event_summary(data: Mapping[str, Any]) -> str:
    """One line of ``key=value`` pairs for an event's (non-personal) data."""
    parts = [f"{k}={_compact(v)}" for k, v in data.items() if k not in _SKIPPED]
    trace = data.get("trace", data.get("decision_trace"))
    if isinstance(trace, list):
        failed = sum(1 for c in trace if isinstance(c, Mapping) and not c.get("passed", True))
        parts.append(f"trace={len(trace)} checks ({failed} failed)")
    return _shorten(" ".join(parts), _SUMMARY_WIDTH)


def _leaves(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def personal_text(entry: TimelineEntry) -> str | None:
    """The entry's personal fields as ``path=value`` pairs; None when it has none."""
    if not entry.has_personal:
        return None
    if entry.personal is None:
        return "(personal fields not shown)"
    if entry.personal.get("shredded") is True:
        return "(personal fields crypto-shredded)"
    return " ".join(f"{path}={_compact(value)}" for path, value in _leaves(entry.personal))


def timeline_lines(entries: Sequence[TimelineEntry]) -> list[str]:
    """One line per event (position, local time, type, data summary), oldest first; personal
    fields, when the entry has them, on an indented line below."""
    if not entries:
        return ["(no events)"]
    type_width = max(len(e.type) for e in entries)
    pos_width = max(len(str(e.position)) for e in entries)
    lines = []
    for e in entries:
        head = f"{e.position:>{pos_width}}  {local_time(e.occurred_at)}  {e.type:<{type_width}}"
        lines.append(f"{head}  {event_summary(e.data)}".rstrip())
        personal = personal_text(e)
        if personal is not None:
            lines.append(" " * (pos_width + 2) + "personal: " + personal)
    return lines


def trace_lines(trace: Sequence[Any]) -> list[str]:
    """A decision trace, one rule a line: pass/FAIL, programme, rule, why, with the parameter
    values used and the date each took effect."""
    lines = []
    for check in trace:
        if not isinstance(check, Mapping):
            continue
        mark = "pass" if check.get("passed") else "FAIL"
        lines.append(
            f"{mark}  {check.get('programme', '?')}  {check.get('rule', '?')}: "
            f"{check.get('explanation', '')}".rstrip()
        )
        for used in check.get("parameters") or ():
            if isinstance(used, Mapping):
                unit = f" {used['unit']}" if used.get("unit") else ""
                since = used.get("effective_from", "?")
                lines.append(
                    f"      {used.get('name')} = {used.get('value')}{unit} (since {since})"
                )
    return lines


def case_text(detail: CaseDetail, *, workflow_link: str | None = None) -> str:
    """A case for a terminal: summary, visit tasks, the latest decision's trace, timeline."""
    case = detail.case
    facts = [
        ("case", case.case_id),
        ("district", case.district or NONE),
        ("stage", case.stage),
        ("status", _state(case)),
        ("reason", case.close_reason or NONE),
        ("programmes", programmes_text(case.programmes)),
        ("opened", local_time(case.opened_at)),
        ("updated", local_time(case.updated_at)),
        ("closed", local_time(case.closed_at)),
        ("household", case.household),
        ("workflow", detail.workflow_id),
    ]
    if workflow_link:
        facts.append(("temporal ui", workflow_link))
    if detail.personal_shown:
        facts.append(("personal", ", ".join(detail.personal_shown) + " (read recorded)"))
    label = max(len(k) for k, _ in facts)
    out = [f"{k + ':':<{label + 1}} {v}" for k, v in facts]
    out += ["", "Visit tasks", tasks_table(detail.tasks, with_case=False)]
    decision = next((e for e in reversed(detail.timeline) if e.type == "EligibilityAssessed"), None)
    if decision is not None and isinstance(decision.data.get("trace"), list):
        summary = decision.data.get("summary")
        out += ["", f"Decision trace ({local_time(decision.occurred_at)})"]
        if summary:
            out.append(f"  {summary}")
        out += ["  " + line for line in trace_lines(decision.data["trace"])]
    out += ["", "Timeline", *timeline_lines(detail.timeline)]
    return "\n".join(out)

"""A case's timeline made readable: labelled fields, local times, the decision trace as rows."""

# Pure functions from :class:`outreach.cases.views.TimelineEntry` (and the values inside events)
# to plain view objects the templates render; nothing here reads a database.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from outreach.cases.views import TimelineEntry
from outreach.web.i18n import Translator
from outreach.workflows.clock import LOCAL_TZ

__all__ = [
    "AwardView",
    "EntryView",
    "ParameterView",
    "TraceRow",
    "award_views",
    "entry_view",
    "local_time",
]

_HIDDEN: Final = frozenset({"case_id", "trace", "programmes_awarded"})
"""Fields not listed with an entry's data (the case id is the page's; the trace has a table)."""

_FOREVER: Final = "0001-01-01"


@dataclass(frozen=True)
class ParameterView:
    name: str
    value: str
    effective_from: str
    applies_to: str


@dataclass(frozen=True)
class TraceRow:
    rule: str
    programme: str
    passed: bool
    explanation: str
    inputs: list[tuple[str, str]]
    parameters: list[ParameterView]


@dataclass(frozen=True)
class AwardView:
    programme: str
    amount: str
    effective_from: str


@dataclass(frozen=True)
class EntryView:
    position: int
    type: str
    label: str
    occurred_at: datetime
    time: str
    source: str | None
    fields: list[tuple[str, str]]
    personal: list[tuple[str, str]] | None
    shredded: bool
    has_personal: bool
    awards: list[AwardView] = field(default_factory=list)
    trace: list[TraceRow] = field(default_factory=list)


def local_time(moment: datetime | str | None) -> str:
    """``YYYY-MM-DD HH:MM`` in the bureau's time zone (UTC+8)."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        try:
            parsed = datetime.fromisoformat(moment)
        except ValueError:
            return moment
        moment = parsed
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def entry_view(entry: TimelineEntry, tr: Translator) -> EntryView:
    data = entry.data
    fields = [
        (tr.label("field", key), readable(key, value, tr))
        for key, value in data.items()
        if key not in _HIDDEN and not (entry.type == "EligibilityAssessed" and key == "programmes")
    ]
    personal: list[tuple[str, str]] | None = None
    shredded = False
    if entry.personal is not None:
        if entry.personal.get("shredded") is True:
            shredded = True
        else:
            personal = list(_flatten(entry.personal, tr))
    awards: list[AwardView] = []
    trace: list[TraceRow] = []
    if entry.type in {"EligibilityAssessed", "EnrollmentFinalized"}:
        awards = award_views(data.get("programmes"), tr)
    if entry.type == "EligibilityAssessed" or isinstance(data.get("trace"), list):
        trace = trace_rows(data.get("trace"), tr)
    return EntryView(
        position=entry.position,
        type=entry.type,
        label=tr.label("event", entry.type),
        occurred_at=entry.occurred_at,
        time=local_time(entry.occurred_at),
        source=entry.source,
        fields=fields,
        personal=personal,
        shredded=shredded,
        has_personal=entry.has_personal,
        awards=awards,
        trace=trace,
    )


def award_views(programmes: object, tr: Translator) -> list[AwardView]:
    """Awards (``{programme, monthly_amount | one_off_amount, effective_from}``) for display."""
    if not isinstance(programmes, list):
        return []
    views: list[AwardView] = []
    for award in programmes:
        if not isinstance(award, Mapping):
            continue
        if award.get("monthly_amount") is not None:
            amount = tr.t("award.monthly", amount=award["monthly_amount"])
        elif award.get("one_off_amount") is not None:
            amount = tr.t("award.one_off", amount=award["one_off_amount"])
        else:
            amount = "—"
        views.append(
            AwardView(
                programme=tr.label("programme", award.get("programme")),
                amount=amount,
                effective_from=str(award.get("effective_from") or "—"),
            )
        )
    return views


def trace_rows(trace: object, tr: Translator) -> list[TraceRow]:
    """The decision trace (``outreach.policy.trace.RuleCheck.to_dict`` items) as table rows."""
    if not isinstance(trace, list):
        return []
    rows: list[TraceRow] = []
    for check in trace:
        if not isinstance(check, Mapping):
            continue
        inputs = check.get("inputs")
        params = check.get("parameters")
        rows.append(
            TraceRow(
                rule=str(check.get("rule", "")),
                programme=tr.label("programme", check.get("programme")),
                passed=bool(check.get("passed")),
                explanation=str(check.get("explanation", "")),
                inputs=[
                    (str(k), readable(str(k), v, tr))
                    for k, v in (inputs.items() if isinstance(inputs, Mapping) else ())
                ],
                parameters=[
                    ParameterView(
                        name=str(p.get("name", "")),
                        value=" ".join(
                            str(x) for x in (p.get("value"), p.get("unit")) if x not in (None, "")
                        ),
                        effective_from=(
                            tr.t("trace.always")
                            if str(p.get("effective_from")) == _FOREVER
                            else str(p.get("effective_from", ""))
                        ),
                        applies_to=str(p.get("applies_to", "default")),
                    )
                    for p in (params if isinstance(params, list) else ())
                    if isinstance(p, Mapping)
                ],
            )
        )
    return rows


def readable(key: str, value: Any, tr: Translator) -> str:
    """One value of an event's data as text: labels for codes, yes/no, local times."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return tr.t("yes") if value else tr.t("no")
    if key == "stage":
        return tr.label("stage", value)
    if key == "outcome":
        return tr.label("outcome", value)
    if key in {"programmes", "already_receiving", "programme"}:
        items = value if isinstance(value, list) else [value]
        return "、".join(_programme(p, tr) for p in items) or tr.t("case.none")
    if key == "labor_capacity" and isinstance(value, list):
        return "、".join(tr.label("labor", v) for v in value) or "—"
    if key in {"trigger", "type"} and isinstance(value, Mapping):
        return tr.label("event", value.get("type"))
    if key.endswith("_at") and isinstance(value, str):
        return local_time(value)
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "; ".join(
            f"{tr.label('field', k)}: {readable(str(k), v, tr)}" for k, v in value.items()
        )
    if isinstance(value, list):
        return "、".join(readable(key, v, tr) for v in value) or tr.t("case.none")
    return str(value)


def _programme(value: Any, tr: Translator) -> str:
    if isinstance(value, Mapping):
        return tr.label("programme", value.get("programme"))
    return tr.label("programme", value)


def _flatten(value: Any, tr: Translator, prefix: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Personal fields as (label path, text) pairs; nested objects give ``person / name``."""
    out: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            out.extend(_flatten(item, tr, (*prefix, tr.label("field", key))))
    elif isinstance(value, list):
        for index, item in enumerate(value, start=1):
            out.extend(_flatten(item, tr, (*prefix, str(index))))
    else:
        out.append((" / ".join(prefix), readable("", value, tr)))
    return out

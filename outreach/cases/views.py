"""What people read about cases, for the API, the web page and the CLI (one source)."""

# Lists come from the projections (``cases``, ``visit_tasks``); a case's timeline comes from the
# event store itself (the household's stream: the case's domain events and the agency events that
# triggered it, in stream order). Every function takes the :class:`Principal` asking and shows
# only what it may see; a case or task outside its districts is :class:`Invisible` (HTTP 403).
#
# Personal fields (names, ID numbers, phones, addresses, free-text notes) appear only in
# :func:`case_detail` with ``personal=True``; it records the read in the access log (who, what,
# when) before returning them. Everything else here is free of personal data.
#
# All dataclasses here have a ``to_dict()`` giving the JSON form the API returns.

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from outreach.cases.access import Channel, Principal, record_access
from outreach.cases.deadletters import deadlettered_count
from outreach.infra.log import get_logger
from outreach.infra.temporal import STUCK_QUERY
from outreach.store.event_store import EventStore, RecordedEvent
from outreach.store.personal_data import PERSONAL, is_shredded
from outreach.store.subscription import Failure
from outreach.store.subscription import failures as projection_failures
from outreach.workflows.case_contract import WORKFLOW_TYPE

__all__ = [
    "CaseDetail",
    "CaseRow",
    "Invisible",
    "Overview",
    "StuckCase",
    "TaskRow",
    "TimelineEntry",
    "case_detail",
    "jsonable",
    "list_cases",
    "list_tasks",
    "overview",
    "stuck_cases",
]

log = get_logger(__name__)


class Invisible(Exception):
    """The principal may not see this case or task (another district)."""


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [jsonable(v) for v in value]
    return value


class _Json:
    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }


@dataclass(frozen=True)
class CaseRow(_Json):
    case_id: str
    household: str  # the household's pseudonymous stream key
    status: str  # open / closed
    stage: str
    district: str | None
    programmes: list[Any]
    outcome: str | None
    close_reason: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> CaseRow:
        return cls(
            case_id=row["case_id"],
            household=row["household"],
            status=row["status"],
            stage=row["stage"],
            district=row["district"],
            programmes=_programmes(row["programmes"]),
            outcome=row["outcome"],
            close_reason=row["close_reason"],
            opened_at=row["opened_at"],
            updated_at=row["updated_at"],
            closed_at=row["closed_at"],
        )


def _programmes(value: Any) -> list[Any]:
    """The ``programmes`` column: award objects after a decision, programme names before."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict | str)]


@dataclass(frozen=True)
class TaskRow(_Json):
    task_id: str
    case_id: str
    district: str
    kind: str  # visit / reverify
    attempt: int
    status: str  # open / completed / cancelled
    overdue: bool  # open and past its due time (or escalated as overdue)
    escalated: bool  # the supervisors were told it is overdue
    found: bool | None
    created_at: datetime
    due_at: datetime
    closed_at: datetime | None
    stage: str | None  # the case's stage

    @classmethod
    def of(cls, row: asyncpg.Record, now: datetime) -> TaskRow:
        is_open = row["status"] == "open"
        return cls(
            task_id=row["task_id"],
            case_id=row["case_id"],
            district=row["district"],
            kind=row["kind"],
            attempt=row["attempt"],
            status=row["status"],
            overdue=is_open and (row["overdue"] or row["due_at"] < now),
            escalated=row["escalated_at"] is not None,
            found=row["found"],
            created_at=row["created_at"],
            due_at=row["due_at"],
            closed_at=row["closed_at"],
            stage=row["stage"],
        )


@dataclass(frozen=True)
class TimelineEntry(_Json):
    """One event of the case's timeline. ``data`` has no personal fields; ``personal`` holds
    them (decrypted) only when asked for, ``{"shredded": true}`` after crypto-shredding."""

    position: int
    event_id: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    source: str | None
    data: dict[str, Any]
    personal: dict[str, Any] | None = None
    has_personal: bool = False


@dataclass(frozen=True)
class CaseDetail(_Json):
    case: CaseRow
    tasks: list[TaskRow]
    timeline: list[TimelineEntry]
    workflow_id: str
    personal_shown: list[str] = field(default_factory=list)
    """Dotted paths of the personal fields included (what the access log recorded)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.case.to_dict(),
            "workflow_id": self.workflow_id,
            "tasks": [t.to_dict() for t in self.tasks],
            "timeline": [e.to_dict() for e in self.timeline],
            "personal_shown": list(self.personal_shown),
        }


@dataclass(frozen=True)
class OldestOpen(_Json):
    case_id: str
    district: str | None
    stage: str
    opened_at: datetime


@dataclass(frozen=True)
class StuckCase(_Json):
    """A case whose workflow task keeps failing or timing out (Temporal flagged it): it takes
    no visit result, approval or trigger until someone fixes the cause."""

    workflow_id: str
    district: str | None
    problems: list[str]
    """Temporal's ``TemporalReportedProblems`` values, e.g. ``category=WorkflowTaskFailed``."""
    started_at: datetime | None


@dataclass(frozen=True)
class Overview(_Json):
    """Ops' overview: open cases per stage, closed per outcome, visit tasks, dead letters."""

    open_by_stage: dict[str, int]
    closed_by_outcome: dict[str, int]
    open_by_district: dict[str, int]
    open_tasks: int
    overdue_tasks: int
    deadlettered: int
    projection_failures: int
    """Events projections stepped over because they cannot be applied (``outreach projections
    failures`` lists them)."""
    recent_projection_failures: list[Failure]
    """The newest of them (at most 10); only for a principal of every district (ops)."""
    stuck_cases: list[StuckCase] | None
    """Cases whose workflow task keeps failing (at most 50); None: Temporal was not asked or
    did not answer."""
    oldest_open: OldestOpen | None
    enrolments_by_programme: dict[str, int]
    as_of: datetime


# -- queries -----------------------------------------------------------------------------------

_CASE_COLUMNS = (
    "case_id, household, status, stage, district, programmes, outcome, close_reason,"
    " opened_at, updated_at, closed_at"
)


def _districts(principal: Principal, district: str | None) -> list[str] | None:
    visible = principal.visible(district)
    return None if visible is None else sorted(visible)


async def list_cases(
    db: asyncpg.Pool,
    principal: Principal,
    *,
    status: str | None = None,
    district: str | None = None,
    household: str | None = None,
    stage: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[CaseRow]:
    """Cases the principal may see, newest first. ``household`` is the stream key
    (``KeyRing.stream_key(household_id)``)."""
    rows = await db.fetch(
        f"SELECT {_CASE_COLUMNS} FROM cases"
        " WHERE ($1::text[] IS NULL OR district = ANY($1))"
        " AND ($2::text IS NULL OR status = $2)"
        " AND ($3::text IS NULL OR household = $3)"
        " AND ($4::text IS NULL OR stage = $4)"
        " ORDER BY opened_at DESC, case_id LIMIT $5 OFFSET $6",
        _districts(principal, district),
        status,
        household,
        stage,
        limit,
        offset,
    )
    return [CaseRow.of(r) for r in rows]


_TASK_SELECT = (
    "SELECT t.task_id, t.case_id, t.district, t.kind, t.attempt, t.status, t.overdue, t.found,"
    " t.created_at, t.due_at, t.escalated_at, t.closed_at, c.stage"
    " FROM visit_tasks t LEFT JOIN cases c ON c.case_id = t.case_id"
)


async def list_tasks(
    db: asyncpg.Pool,
    principal: Principal,
    *,
    status: str | None = "open",
    district: str | None = None,
    case_id: str | None = None,
    overdue_only: bool = False,
    limit: int = 500,
    now: datetime | None = None,
) -> list[TaskRow]:
    """Visit tasks the principal may see, soonest due first."""
    now = now or datetime.now(UTC)
    rows = await db.fetch(
        _TASK_SELECT + " WHERE ($1::text[] IS NULL OR t.district = ANY($1))"
        " AND ($2::text IS NULL OR t.status = $2)"
        " AND ($3::text IS NULL OR t.case_id = $3)"
        " AND (NOT $4 OR (t.status = 'open' AND (t.overdue OR t.due_at < $5)))"
        " ORDER BY t.due_at, t.task_id LIMIT $6",
        _districts(principal, district),
        status,
        case_id,
        overdue_only,
        now,
        limit,
    )
    return [TaskRow.of(r, now) for r in rows]


async def task_case_id(db: asyncpg.Pool, principal: Principal, task_id: str) -> str | None:
    """The case of a task the principal may see (None: no such task); Invisible otherwise."""
    row = await db.fetchrow("SELECT case_id, district FROM visit_tasks WHERE task_id = $1", task_id)
    if row is None:
        return None
    if not principal.may_see(row["district"]):
        raise Invisible(f"task {task_id} is in district {row['district']}")
    case_id: str = row["case_id"]
    return case_id


async def case_detail(
    db: asyncpg.Pool,
    store: EventStore,
    principal: Principal,
    case_id: str,
    *,
    channel: Channel,
    personal: bool = True,
    now: datetime | None = None,
) -> CaseDetail | None:
    """A case with its tasks and timeline; None when there is no such case.

    With ``personal``, the timeline entries carry their decrypted personal fields and the read
    is recorded in the access log first (nothing personal is returned without its record).
    """
    from outreach.workflows.case_contract import case_workflow_id

    row = await db.fetchrow(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id = $1", case_id)
    if row is None:
        return None
    case = CaseRow.of(row)
    if not principal.may_see(case.district):
        raise Invisible(f"case {case_id} is in district {case.district}")
    tasks = await list_tasks(db, principal, status=None, case_id=case_id, now=now)
    events = await store.read_stream(case.household)
    timeline = [_entry(e, personal) for e in case_events(events, case_id)]
    shown: list[str] = []
    if personal:
        shown = sorted(
            {
                path
                for e in timeline
                if e.personal and not is_shredded(e.personal)
                for path in personal_paths(e.personal)
            }
        )
        await record_access(
            db,
            principal,
            channel=channel,
            action="case.read",
            fields=shown,
            case_id=case_id,
            household=case.household,
        )
    return CaseDetail(
        case=case,
        tasks=sorted(tasks, key=lambda t: t.created_at),
        timeline=timeline,
        workflow_id=case_workflow_id(case.household),
        personal_shown=shown,
    )


def case_events(events: Sequence[RecordedEvent], case_id: str) -> list[RecordedEvent]:
    """The events of one case within its household's stream: its domain events (``case_id``)
    and the agency events its ``CaseOpened`` / ``TriggerJoined`` name as triggers."""
    mine = [e for e in events if e.data.get("case_id") == case_id]
    triggers = {
        str(ref.get("event_id"))
        for e in mine
        if isinstance(ref := e.data.get("trigger"), dict) and ref.get("event_id")
    }
    return [e for e in events if e.data.get("case_id") == case_id or str(e.event_id) in triggers]


def _entry(event: RecordedEvent, personal: bool) -> TimelineEntry:
    data = {k: v for k, v in event.data.items() if k != PERSONAL}
    has_personal = PERSONAL in event.data
    return TimelineEntry(
        position=event.position,
        event_id=str(event.event_id),
        type=event.type,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        source=event.source,
        data=data,
        personal=(event.data.get(PERSONAL) if personal and has_personal else None),
        has_personal=has_personal,
    )


def personal_paths(value: Any, prefix: str = "") -> Iterable[str]:
    """Dotted paths of the leaves of a personal-fields object (list items as ``[]``)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from personal_paths(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from personal_paths(item, f"{prefix}[]")
    elif prefix:
        yield prefix


async def stuck_cases(
    temporal: Client, principal: Principal, *, limit: int = 50
) -> list[StuckCase] | None:
    """The cases Temporal flags because their workflow task keeps failing (``STUCK_QUERY``),
    in the principal's districts; None when Temporal does not answer."""
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND {STUCK_QUERY}"
    districts = _districts(principal, None)
    if districts is not None:
        if not districts:
            return []
        listed = ", ".join("'" + d.replace("'", "''") + "'" for d in districts)
        query += f" AND OutreachDistrict IN ({listed})"
    found: list[StuckCase] = []
    try:
        async for execution in temporal.list_workflows(query, limit=limit):
            attributes = execution.search_attributes
            district = attributes.get("OutreachDistrict") or [None]
            found.append(
                StuckCase(
                    workflow_id=execution.id,
                    district=str(district[0]) if district[0] is not None else None,
                    problems=[str(p) for p in attributes.get("TemporalReportedProblems", [])],
                    started_at=execution.start_time,
                )
            )
    except RPCError as exc:
        log.warning("stuck cases not listed: Temporal did not answer", error=str(exc)[:200])
        return None
    return found


async def overview(
    db: asyncpg.Pool,
    principal: Principal,
    *,
    now: datetime | None = None,
    temporal: Client | None = None,
) -> Overview:
    """Counts for ops (or a supervisor's districts): stages, outcomes, tasks, dead letters,
    skipped events, and (with ``temporal``) the cases whose workflow task keeps failing."""
    now = now or datetime.now(UTC)
    districts = _districts(principal, None)
    by_stage = await db.fetch(
        "SELECT stage, count(*) AS n FROM cases WHERE status = 'open'"
        " AND ($1::text[] IS NULL OR district = ANY($1)) GROUP BY stage ORDER BY stage",
        districts,
    )
    by_outcome = await db.fetch(
        "SELECT coalesce(outcome, 'unknown') AS outcome, count(*) AS n FROM cases"
        " WHERE status = 'closed' AND ($1::text[] IS NULL OR district = ANY($1))"
        " GROUP BY 1 ORDER BY 1",
        districts,
    )
    by_district = await db.fetch(
        "SELECT coalesce(district, '') AS district, count(*) AS n FROM cases"
        " WHERE status = 'open' AND ($1::text[] IS NULL OR district = ANY($1))"
        " GROUP BY 1 ORDER BY 1",
        districts,
    )
    tasks = await db.fetchrow(
        "SELECT count(*) AS open, count(*) FILTER (WHERE overdue OR due_at < $2) AS overdue"
        " FROM visit_tasks WHERE status = 'open' AND ($1::text[] IS NULL OR district = ANY($1))",
        districts,
        now,
    )
    oldest = await db.fetchrow(
        "SELECT case_id, district, stage, opened_at FROM cases WHERE status = 'open'"
        " AND ($1::text[] IS NULL OR district = ANY($1)) ORDER BY opened_at, case_id LIMIT 1",
        districts,
    )
    enrolled = await db.fetch(
        "SELECT p->>'programme' AS programme, count(*) AS n FROM enrolments,"
        " jsonb_array_elements(programmes) p WHERE status = 'active'"
        " AND ($1::text[] IS NULL OR district = ANY($1)) GROUP BY 1 ORDER BY 1",
        districts,
    )
    assert tasks is not None
    skipped, recent = await projection_failures(db, limit=10)
    return Overview(
        open_by_stage={r["stage"]: r["n"] for r in by_stage},
        closed_by_outcome={r["outcome"]: r["n"] for r in by_outcome},
        open_by_district={r["district"]: r["n"] for r in by_district},
        open_tasks=int(tasks["open"]),
        overdue_tasks=int(tasks["overdue"]),
        deadlettered=await deadlettered_count(db),
        projection_failures=skipped,
        recent_projection_failures=recent if districts is None else [],
        stuck_cases=await stuck_cases(temporal, principal) if temporal is not None else None,
        oldest_open=(
            OldestOpen(oldest["case_id"], oldest["district"], oldest["stage"], oldest["opened_at"])
            if oldest
            else None
        ),
        enrolments_by_programme={str(r["programme"]): r["n"] for r in enrolled},
        as_of=now,
    )

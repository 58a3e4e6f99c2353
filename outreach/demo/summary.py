"""The demo's summary: what the month's feeds led to, read back from the database.

Counts are about the demo city's households only (their stream keys), so a database that also
holds other cases (an earlier demo with another seed, real data) does not blur them; the
dead-letter count is this run's (``deadletter_log`` rows since the run started).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from outreach.ingest.deadletter import deadlettered_count
from outreach.projections.case_tasks import programmes_of

__all__ = ["CaseCounts", "DemoSummary", "count_cases", "render_text"]


@dataclass(frozen=True)
class CaseCounts:
    """The demo households' cases, tasks, enrolments and this run's dead letters."""

    cases_opened: int
    open_by_stage: dict[str, int]
    closed_by_outcome: dict[str, int]
    enrolments: dict[str, dict[str, Any]]  # programme -> households, monthly/one-off totals
    tasks_completed: int
    visits_found: int
    open_tasks: int
    overdue_tasks: int
    deadlettered: int

    @property
    def open_cases(self) -> int:
        return sum(self.open_by_stage.values())


async def count_cases(db: asyncpg.Pool, households: list[str], since: datetime) -> CaseCounts:
    """Counts for the households with these stream keys (dead letters: since ``since``)."""
    stages = await db.fetch(
        "SELECT status, coalesce(outcome, stage) AS what, count(*) AS n FROM cases"
        " WHERE household = ANY($1::text[]) GROUP BY 1, 2 ORDER BY 1, 2",
        households,
    )
    tasks = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'completed') AS completed,"
        " count(*) FILTER (WHERE status = 'completed' AND found) AS found,"
        " count(*) FILTER (WHERE status = 'open') AS open,"
        " count(*) FILTER (WHERE status = 'open' AND (overdue OR due_at < $2)) AS overdue"
        " FROM visit_tasks WHERE household = ANY($1::text[])",
        households,
        datetime.now(UTC),
    )
    assert tasks is not None
    enrolled = await db.fetch(
        "SELECT programmes FROM enrolments WHERE household = ANY($1::text[]) AND status = 'active'",
        households,
    )
    programmes: dict[str, dict[str, Any]] = {}
    for row in enrolled:
        for award in programmes_of(row["programmes"]):
            entry = programmes.setdefault(
                str(award.get("programme")),
                {"households": 0, "monthly_total": Decimal(0), "one_off_total": Decimal(0)},
            )
            entry["households"] += 1
            entry["monthly_total"] += Decimal(str(award.get("monthly_amount") or 0))
            entry["one_off_total"] += Decimal(str(award.get("one_off_amount") or 0))
    return CaseCounts(
        cases_opened=sum(int(r["n"]) for r in stages),
        open_by_stage={r["what"]: int(r["n"]) for r in stages if r["status"] == "open"},
        closed_by_outcome={r["what"]: int(r["n"]) for r in stages if r["status"] == "closed"},
        enrolments={
            name: {
                "households": e["households"],
                "monthly_total": str(e["monthly_total"].quantize(Decimal("0.01"))),
                "one_off_total": str(e["one_off_total"].quantize(Decimal("0.01"))),
            }
            for name, e in sorted(programmes.items())
        },
        tasks_completed=int(tasks["completed"]),
        visits_found=int(tasks["found"]),
        open_tasks=int(tasks["open"]),
        overdue_tasks=int(tasks["overdue"]),
        deadlettered=await deadlettered_count(db, since=since),
    )


@dataclass
class DemoSummary:
    seed: int
    households: int
    days: int
    published: dict[str, int]
    counts: CaseCounts
    api: dict[str, int]  # what the simulated staff did through the HTTP API
    elapsed_seconds: float
    finished: bool  # every demo case reached an outcome within the timeout
    urls: dict[str, str]
    tokens: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "seed": self.seed,
            "households": self.households,
            "days": self.days,
            "published": self.published,
            "events_published": sum(self.published.values()),
            "cases_opened": c.cases_opened,
            "outcomes": c.closed_by_outcome,
            "open_cases": c.open_cases,
            "open_by_stage": c.open_by_stage,
            "enrolments": c.enrolments,
            "deadlettered": c.deadlettered,
            "tasks_completed": c.tasks_completed,
            "visits_found": c.visits_found,
            "open_tasks": c.open_tasks,
            "overdue_tasks": c.overdue_tasks,
            "api": self.api,
            "elapsed_seconds": round(self.elapsed_seconds, 1),
            "finished": self.finished,
            "urls": self.urls,
            "tokens": self.tokens,
            "notes": self.notes,
        }


def render_text(summary: DemoSummary) -> str:
    """The summary for a person at a terminal."""
    c = summary.counts
    lines = [
        f"outreach demo: seed {summary.seed}, {summary.households} households,"
        f" {summary.days} days of feeds, {summary.elapsed_seconds:.0f} s"
        + ("" if summary.finished else " (timed out: some cases are still open)"),
        "",
        f"events published: {sum(summary.published.values())}",
    ]
    lines += [f"  {kind:<34} {n:>5}" for kind, n in summary.published.items()]
    lines += [
        f"dead-lettered:    {c.deadlettered}",
        f"cases opened:     {c.cases_opened}",
    ]
    lines += [f"  {outcome:<34} {n:>5}" for outcome, n in c.closed_by_outcome.items()]
    lines += [f"  still open ({stage}){'':<20} {n:>5}" for stage, n in c.open_by_stage.items()]
    lines.append("enrolments (programme: households, monthly total / one-off total, yuan):")
    if not c.enrolments:
        lines.append("  none")
    for programme, e in c.enrolments.items():
        amounts = (
            f"{e['monthly_total']}/month"
            if Decimal(e["monthly_total"])
            else f"{e['one_off_total']} once"
        )
        lines.append(f"  {programme:<28} {e['households']:>4}   {amounts}")
    api = summary.api
    lines += [
        f"visit tasks:      {c.tasks_completed} completed ({c.visits_found} found someone),"
        f" {c.open_tasks} open, {c.overdue_tasks} overdue",
        f"through the API:  {api.get('visits_found', 0) + api.get('visits_not_found', 0)} visits"
        f" ({api.get('late_visits', 0)} after the SLA), {api.get('approvals', 0)} approvals,"
        f" {api.get('refusals', 0)} sent back, objections: {api.get('objections', 0)}",
        "",
    ]
    for name, url in summary.urls.items():
        lines.append(f"{name + ':':<18}{url}")
    lines.append("sign in with (bearer tokens):")
    lines += [f"  {who:<22} {token}" for who, token in summary.tokens.items()]
    lines += [f"note: {n}" for n in summary.notes]
    return "\n".join(lines)

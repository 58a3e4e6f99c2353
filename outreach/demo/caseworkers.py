"""Simulated caseworkers and a supervisor, working the demo city's cases through the HTTP API.

One caseworker per district polls ``GET /api/tasks`` with a token for that district, reads each
new task's case (``GET /api/cases/{id}``, recorded in the access log like any caseworker's read)
and records what the home visit finds (``POST /api/tasks/{id}/complete``): nobody home on the
attempts before :attr:`~outreach.demo.city.Household.found_on_attempt`, otherwise the household's
size, income, labour capacity, assets and consent. A few visits are made only after the SLA
(the task shows as overdue first); a few households object during publicity
(``POST /api/cases/{id}/objections``). The supervisor approves decisions awaiting approval
(``POST /api/cases/{id}/approve``), sending a few back once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from outreach.demo.city import Household
from outreach.infra.log import get_logger
from outreach.workflows.clock import local_date

__all__ = ["CaseworkerStats", "DemoTokens", "SimulatedCaseworkers"]

log = get_logger(__name__)


@dataclass(frozen=True)
class DemoTokens:
    """Bearer tokens minted for the demo (shown in its summary, to sign in to the web page)."""

    caseworkers: dict[str, str]  # district -> token
    supervisor: str
    ops: str

    def to_dict(self) -> dict[str, str]:
        return {
            **{f"caseworker:{d}": t for d, t in sorted(self.caseworkers.items())},
            "supervisor": self.supervisor,
            "ops": self.ops,
        }


@dataclass
class CaseworkerStats:
    """What the simulated staff did through the API (requests answered 2xx, by kind)."""

    visits_found: int = 0
    visits_not_found: int = 0
    visits_without_consent: int = 0
    late_visits: int = 0
    approvals: int = 0
    refusals: int = 0
    objections: int = 0
    rejected: int = 0  # 4xx answers (e.g. a task completed meanwhile)
    errors: int = 0  # 5xx or transport errors (retried next round)

    def to_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class SimulatedCaseworkers:
    base_url: str
    tokens: DemoTokens
    households: dict[str, Household]  # stream key -> household
    interval: float = 0.5
    stats: CaseworkerStats = field(default_factory=CaseworkerStats)
    _case_household: dict[str, str | None] = field(default_factory=dict)
    _done_tasks: set[str] = field(default_factory=set)
    _objected: set[str] = field(default_factory=set)
    _refused: set[str] = field(default_factory=set)
    _approval_seen: dict[str, str] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set: every ``interval`` seconds, each district's open tasks
        and publicity cases, and the supervisor's pending approvals."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30.0) as http:
            while not stop.is_set():
                await asyncio.gather(
                    *(self._district(http, d, t) for d, t in self.tokens.caseworkers.items()),
                    self._supervise(http),
                )
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except TimeoutError:
                    pass

    # -- caseworkers ------------------------------------------------------------------------
    async def _district(self, http: httpx.AsyncClient, district: str, token: str) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        tasks = await self._get(http, "/api/tasks", auth, params={"status": "open"})
        for task in (tasks or {}).get("tasks", []):
            if task["task_id"] in self._done_tasks:
                continue
            household = await self._household(http, task["case_id"], auth)
            if household is None:
                continue  # not one of the demo city's households
            first_visit = task["kind"] == "visit" and task["attempt"] == 1
            if household.late and first_visit and not task["overdue"]:
                continue  # the first visit to this household waits until it is overdue
            await self._visit(http, task, household, auth)
        publicity = await self._get(
            http, "/api/cases", auth, params={"status": "open", "stage": "publicity"}
        )
        for case in (publicity or {}).get("cases", []):
            household = self.households.get(case["household"])
            if household is None or not household.objection or case["case_id"] in self._objected:
                continue
            body = {
                "summary": "邻居反映该户另有经营性收入 请复核",
                "received_on": _today(),
                "objection_id": f"demo-{case['case_id']}",
            }
            if await self._post(http, f"/api/cases/{case['case_id']}/objections", auth, body):
                self._objected.add(case["case_id"])
                self.stats.objections += 1

    async def _visit(
        self, http: httpx.AsyncClient, task: dict[str, Any], h: Household, auth: dict[str, str]
    ) -> None:
        reached = task["kind"] == "reverify" or (
            h.found_on_attempt is not None and task["attempt"] >= h.found_on_attempt
        )
        body: dict[str, Any] = {"visited_on": _today(), "found": reached}
        if reached:
            body |= {
                "household_size": h.size,
                "monthly_income_total": str(h.monthly_income_total),
                "labor_capacity": list(h.labor_capacity),
                "consent_to_check": h.consent,
                "assets": {
                    "vehicles": h.vehicles,
                    "homes": h.homes,
                    "business_premises": 0,
                    "financial_assets": str(h.financial_assets),
                },
                "has_supporter": h.has_supporter,
                "notes": h.visit_notes(),
            }
        else:
            body["notes"] = "家中无人 邻居称外出务工"
        answer = await self._post(http, f"/api/tasks/{task['task_id']}/complete", auth, body)
        if answer is None:
            return
        self._done_tasks.add(task["task_id"])
        if answer == "rejected":
            return
        if task["overdue"]:
            self.stats.late_visits += 1
        if not reached:
            self.stats.visits_not_found += 1
        else:
            self.stats.visits_found += 1
            self.stats.visits_without_consent += not h.consent

    # -- supervisor ---------------------------------------------------------------------------
    async def _supervise(self, http: httpx.AsyncClient) -> None:
        auth = {"Authorization": f"Bearer {self.tokens.supervisor}"}
        waiting = await self._get(
            http, "/api/cases", auth, params={"status": "open", "stage": "approval"}
        )
        for case in (waiting or {}).get("cases", []):
            case_id = case["case_id"]
            if self._approval_seen.get(case_id) == case["updated_at"]:
                continue  # already answered; the read model has not caught up yet
            household = self.households.get(case["household"])
            if household is None:
                continue
            refuse = household.refuse_first_approval and case_id not in self._refused
            body = {
                "approved": not refuse,
                "comment": "收入核实材料不全 退回补充" if refuse else "同意",
            }
            answer = await self._post(http, f"/api/cases/{case_id}/approve", auth, body)
            if answer is None:
                continue
            self._approval_seen[case_id] = case["updated_at"]
            if answer == "rejected":
                continue
            if refuse:
                self._refused.add(case_id)
                self.stats.refusals += 1
            else:
                self.stats.approvals += 1

    # -- HTTP ---------------------------------------------------------------------------------
    async def _household(
        self, http: httpx.AsyncClient, case_id: str, auth: dict[str, str]
    ) -> Household | None:
        if case_id not in self._case_household:
            case = await self._get(http, f"/api/cases/{case_id}", auth)
            if case is None:
                return None
            self._case_household[case_id] = case.get("household")
        key = self._case_household[case_id]
        return None if key is None else self.households.get(key)

    async def _get(
        self,
        http: httpx.AsyncClient,
        path: str,
        auth: dict[str, str],
        params: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        try:
            response = await http.get(path, headers=auth, params=params)
        except httpx.HTTPError as exc:
            self.stats.errors += 1
            log.warning("demo request failed", path=path, error=repr(exc))
            return None
        if response.status_code != 200:
            self.stats.errors += 1
            log.warning("demo request refused", path=path, status=response.status_code)
            return None
        body: dict[str, Any] = response.json()
        return body

    async def _post(
        self, http: httpx.AsyncClient, path: str, auth: dict[str, str], body: dict[str, Any]
    ) -> str | None:
        """``"ok"``, ``"rejected"`` (a 4xx: the case said no, nothing changed), or None (try
        again next round)."""
        try:
            response = await http.post(path, headers=auth, json=body)
        except httpx.HTTPError as exc:
            self.stats.errors += 1
            log.warning("demo request failed", path=path, error=repr(exc))
            return None
        if response.is_success:
            return "ok"
        if 400 <= response.status_code < 500:
            self.stats.rejected += 1
            log.info(
                "demo request rejected",
                path=path,
                status=response.status_code,
                detail=response.text[:300],
            )
            return "rejected"
        self.stats.errors += 1
        log.warning("demo request failed", path=path, status=response.status_code)
        return None


def _today() -> str:
    return local_date(datetime.now(UTC)).isoformat()

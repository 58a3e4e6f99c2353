"""`outreach cases|tasks|history` against a real case: Postgres, the session's Temporal dev server
and a case worker with the real activities (``tests.case_support.case_rig``).

The commands run in-process through the real parser and handlers (``build_parser``) with the
session's settings; one test runs the ``outreach`` entry point as a subprocess, to check that
``--json`` output is the only thing on stdout while logs go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client

from outreach.cli.main import build_parser
from outreach.events import samples as s
from outreach.infra.settings import Settings
from outreach.projections import CasesProjection, subscription_for
from outreach.store.event_store import EventStore
from outreach.workflows.case_contract import Stage
from tests.case_support import CaseRig, case_rig, new_household

Capture = pytest.CaptureFixture[str]


async def cli(settings: Settings, capsys: Capture, *argv: str) -> tuple[int, str, str]:
    """Run one command through the real parser and handler; (exit code, stdout, stderr)."""
    capsys.readouterr()
    args = build_parser().parse_args(list(argv))
    code = await args.handler(settings, args)
    captured = capsys.readouterr()
    return int(code), captured.out, captured.err


async def project(rig: CaseRig) -> None:
    """Bring the cases, visit_tasks and enrolments read models up to date."""
    await subscription_for(rig.store, CasesProjection()).catch_up()
    await rig.project()


async def cli_reads(pool: asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT actor, role, channel, action, fields FROM access_log"
        " WHERE case_id = $1 AND channel = 'cli' ORDER BY access_id",
        case_id,
    )
    return rows


async def test_list_show_history_and_complete_a_visit(
    temporal_client: Client, store: EventStore, settings: Settings, capsys: Capture
) -> None:
    async with case_rig(temporal_client, store) as rig:
        opened = await rig.hospital_case("sangzhi", out_of_pocket=80_000)
        handle, task_id, case_id = opened.handle, opened.task_id, opened.case_id
        household_id, id_number = opened.household_id, opened.id_number
        await project(rig)

        # cases list: JSON and the table, found by the agency's household id
        code, out, err = await cli(
            settings, capsys, "cases", "list", "--household-id", household_id, "--json"
        )
        assert code == 0, err
        [row] = json.loads(out)
        assert row["case_id"] == case_id
        assert (row["district"], row["status"], row["stage"]) == ("sangzhi", "open", "visit")
        assert row["household"] == opened.household_key
        code, out, _ = await cli(settings, capsys, "cases", "list", "--household-id", household_id)
        assert code == 0
        header, line = out.splitlines()
        assert header.split() == ["CASE", "DISTRICT", "STAGE", "STATUS", "OPENED", "PROGRAMMES"]
        assert line.split()[:4] == [case_id, "sangzhi", "visit", "open"]
        code, out, _ = await cli(
            settings,
            capsys,
            "cases",
            "list",
            "--household-id",
            household_id,
            "--status",
            "closed",
            "--json",
        )
        assert (code, json.loads(out)) == (0, [])

        # tasks list
        code, out, err = await cli(
            settings, capsys, "tasks", "list", "--case-id", case_id, "--json"
        )
        assert code == 0, err
        [task] = json.loads(out)
        assert (task["task_id"], task["status"], task["overdue"]) == (task_id, "open", False)
        assert task["district"] == "sangzhi" and task["stage"] == "visit"
        code, out, _ = await cli(settings, capsys, "tasks", "list", "--case-id", case_id)
        assert code == 0 and task_id in out and "OVERDUE" not in out
        code, out, _ = await cli(
            settings, capsys, "tasks", "list", "--case-id", case_id, "--overdue", "--json"
        )
        assert (code, json.loads(out)) == (0, [])

        # cases show: the agency event's personal fields are shown, and the read is logged
        assert await cli_reads(rig.pool, case_id) == []
        code, out, err = await cli(settings, capsys, "cases", "show", case_id, "--json")
        assert code == 0, err
        detail = json.loads(out)
        assert detail["case_id"] == case_id and detail["stage"] == "visit"
        assert [t["task_id"] for t in detail["tasks"]] == [task_id]
        types = [e["type"] for e in detail["timeline"]]
        assert types[0] == "medical.settlement.recorded"
        assert {"CaseOpened", "VisitScheduled"} <= set(types)
        agency = detail["timeline"][0]
        assert agency["personal"]["person"]["id_number"] == id_number
        assert "person.id_number" in detail["personal_shown"]
        assert detail["workflow_id"] == f"outreach-case-{opened.household_key}"
        [read] = await cli_reads(rig.pool, case_id)
        assert read["actor"].startswith("cli:") and read["action"] == "case.read"
        assert sorted(read["fields"]) == detail["personal_shown"]

        # --no-personal: nothing personal shown, nothing logged
        code, out, _ = await cli(
            settings, capsys, "cases", "show", case_id, "--json", "--no-personal"
        )
        assert code == 0
        quiet = json.loads(out)
        assert quiet["personal_shown"] == []
        assert all(e["personal"] is None for e in quiet["timeline"])
        assert id_number not in out
        code, out, _ = await cli(settings, capsys, "history", case_id, "--no-personal")
        assert code == 0 and id_number not in out and "(personal fields not shown)" in out
        assert len(await cli_reads(rig.pool, case_id)) == 1

        # the human form of show
        code, out, _ = await cli(settings, capsys, "cases", "show", case_id)
        assert code == 0
        assert "case:" in out and case_id in out and "Visit tasks" in out and task_id in out
        assert "Timeline" in out and id_number in out
        assert len(await cli_reads(rig.pool, case_id)) == 2

        # a malformed argument: exit 2, readable reasons, nothing sent
        code, out, err = await cli(
            settings,
            capsys,
            "tasks",
            "complete",
            task_id,
            "--visited-on",
            "2024-02-30",
            "--found",
            "--household-size",
            "four",
        )
        assert code == 2 and out == ""
        assert "--visited-on" in err and "--household-size" in err and "nothing sent" in err

        # the case's validator rejects a visit in the future: exit 1 with its reason
        today = await rig.today()
        tomorrow = (today + timedelta(days=1)).isoformat()
        code, out, err = await cli(
            settings,
            capsys,
            "tasks",
            "complete",
            task_id,
            "--visited-on",
            tomorrow,
            "--not-found",
        )
        assert code == 1 and out == ""
        assert f"visited_on {tomorrow} is in the future" in err

        # neither changed anything
        status = await rig.status(handle)
        assert status.stage == Stage.VISIT and status.visit_attempts == 0
        assert status.open_task is not None and status.open_task.task_id == task_id
        events = await rig.events(opened.household_key, case_id)
        assert "VisitCompleted" not in [t for t, _ in events]

        # a valid result moves the case on to verification, decision and approval
        code, out, err = await cli(
            settings,
            capsys,
            "tasks",
            "complete",
            task_id,
            "--visited-on",
            today.isoformat(),
            "--found",
            "--household-size",
            "3",
            "--monthly-income",
            "0",
            "--labor-capacity",
            "none",
            "--consent",
            "--homes",
            "1",
            "--notes",
            "患者住院后家中无收入",
            "--json",
        )
        assert code == 0, err
        ack = json.loads(out)
        assert ack["case_id"] == case_id and ack["stage"] == "verify"
        await rig.until(handle, lambda st: st.stage == Stage.APPROVAL, what="approval")
        await project(rig)

        code, out, _ = await cli(settings, capsys, "tasks", "list", "--case-id", case_id, "--json")
        assert (code, json.loads(out)) == (0, [])
        code, out, _ = await cli(
            settings, capsys, "tasks", "list", "--case-id", case_id, "--status", "all", "--json"
        )
        [done] = json.loads(out)
        assert (done["status"], done["found"]) == ("completed", True)

        code, out, err = await cli(settings, capsys, "history", case_id, "--json")
        assert code == 0, err
        timeline = json.loads(out)
        types = [e["type"] for e in timeline]
        assert types.index("VisitCompleted") < types.index("EligibilityAssessed")
        assert [e["position"] for e in timeline] == sorted(e["position"] for e in timeline)
        visit = next(e for e in timeline if e["type"] == "VisitCompleted")
        assert visit["personal"] == {"notes": "患者住院后家中无收入"}

        code, out, _ = await cli(settings, capsys, "history", case_id)
        assert code == 0
        lines = out.splitlines()
        event_lines = [ln for ln in lines if not ln.lstrip().startswith("personal:")]
        assert len(event_lines) == len(timeline)
        assert all(str(e["position"]) in ln for e, ln in zip(timeline, event_lines, strict=True))
        assert "VisitCompleted" in out and "personal: notes=患者住院后家中无收入" in out

        code, out, _ = await cli(
            settings, capsys, "cases", "list", "--household-id", household_id, "--json"
        )
        [row] = json.loads(out)
        assert row["stage"] == "approval"
        assert "dibao" in {p["programme"] for p in row["programmes"]}

        code, out, _ = await cli(settings, capsys, "cases", "show", case_id)
        assert code == 0
        stage_line = next(ln for ln in out.splitlines() if ln.startswith("stage:"))
        assert stage_line.split() == ["stage:", row["stage"]]
        assert "Decision trace" in out and "dibao" in out and "(since " in out


async def test_unknown_case_and_task(settings: Settings, capsys: Capture) -> None:
    code, out, err = await cli(settings, capsys, "cases", "show", "no-such-case", "--json")
    assert (code, out) == (1, "")
    assert "no case no-such-case" in err
    code, out, err = await cli(settings, capsys, "history", "no-such-case")
    assert (code, out) == (1, "")
    assert "no case no-such-case" in err
    code, out, err = await cli(
        settings,
        capsys,
        "tasks",
        "complete",
        "no-such-task",
        "--visited-on",
        "2024-03-01",
        "--not-found",
    )
    assert (code, out) == (1, "")
    assert "no visit task no-such-task" in err


async def test_json_output_is_alone_on_stdout(
    temporal_client: Client, store: EventStore, settings: Settings
) -> None:
    """The real entry point, logging configured (console renderer, DEBUG): stdout parses."""
    async with case_rig(temporal_client, store) as rig:
        household_id, id_number = new_household("cili")
        trigger = await rig.agency_event(
            s.certificate_issued(household_id=household_id, id_number=id_number, district="cili")
        )
        handle = await rig.open_case(trigger)
        await rig.open_task(handle)
        case_id = (await rig.status(handle)).case_id
        await project(rig)

        def run(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "outreach.cli.main", *argv],
                env=settings.process_env(OUTREACH_LOG_LEVEL="DEBUG", OUTREACH_LOG_FORMAT="console"),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        shown = await asyncio.to_thread(run, "cases", "show", case_id, "--json")
        assert shown.returncode == 0, shown.stderr
        detail: dict[str, Any] = json.loads(shown.stdout)
        assert detail["case_id"] == case_id
        if settings.hmac_key is None or settings.data_key is None:
            # the dev-key warning was logged, on stderr
            assert "development keys" in shown.stderr

        listed = await asyncio.to_thread(
            run, "cases", "list", "--household-id", household_id, "--json"
        )
        assert listed.returncode == 0, listed.stderr
        assert [c["case_id"] for c in json.loads(listed.stdout)] == [case_id]

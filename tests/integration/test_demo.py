"""``outreach demo --exit --json`` on the session's services, its summary checked against the
database it ran on.

The demo runs as the real command in a subprocess. From its point of view every service is
external (so it starts and stops nothing), and it gets a database of its own, a state directory
of its own (so its own development keys: its households' workflow ids are its own), and topics
and a task queue of its own, so nothing else in the session can blur its counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from outreach.cases import views as case_views
from outreach.cases.access import local_operator
from outreach.demo.city import generate_city
from outreach.infra.settings import Settings
from tests.support import free_port, run_sync

SEED, HOUSEHOLDS, DAYS = 5, 24, 10
"""A small city with every outcome but no household with a second trigger: a trigger that
arrives while its case is handling a visit result can leave the case's read model closed and
its workflow waiting (a workflow issue, reported separately), which this test is not about."""


@pytest.fixture
def demo_database(base_settings: Settings) -> Iterator[str]:
    admin = base_settings.postgres_dsn
    name = f"outreach_demo_{uuid.uuid4().hex[:10]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_sync(execute(f'CREATE DATABASE "{name}"'))
    head, _, tail = admin.partition("?")
    yield f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{tail}" if tail else "")
    run_sync(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_demo_runs_a_small_city_to_its_outcomes_and_summarises_it(
    settings: Settings, demo_database: str, tmp_path: Path, unique: str
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": demo_database,
        "TEMPORAL_ADDRESS": settings.temporal_target,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_servers,
        "OUTREACH_STATE_DIR": str(tmp_path / "state"),
        "OUTREACH_API_PORT": str(free_port()),
        "OUTREACH_INGEST_GROUP_ID": f"demo-{unique}",
        "OUTREACH_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "OUTREACH_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
        "OUTREACH_LOG_FORMAT": "json",
    }
    for name in ("OUTREACH_POLICY", "OUTREACH_HMAC_KEY", "OUTREACH_DATA_KEY"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "outreach.cli.main",
        "demo",
        *("--seed", str(SEED), "--households", str(HOUSEHOLDS), "--days", str(DAYS)),
        *("--day-seconds", "0.3", "--timeout", "150", "--exit", "--json"),
        *("--topic-prefix", f"demo-{unique}.", "--task-queue", f"demo-{unique}"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])

    city = generate_city(SEED, HOUSEHOLDS, DAYS)
    assert summary["finished"] is True
    assert summary["published"] == city.counts()
    assert summary["events_published"] == len(city.messages)
    assert summary["open_cases"] == 0 and summary["open_tasks"] == 0

    db = run_sync(_database_facts(demo_database))
    assert summary["cases_opened"] == db["cases"] > 0
    assert summary["outcomes"] == db["outcomes"]
    assert summary["deadlettered"] == db["deadlettered"] == city.malformed
    assert sum(e["households"] for e in summary["enrolments"].values()) >= 1
    assert db["enrolments"] >= 1
    # the visits went through the HTTP API: the read model shows them completed, and the
    # caseworkers' reads of the cases are in the access log under their tokens' names
    assert summary["api"]["visits_found"] >= 1
    assert summary["tasks_completed"] == db["completed_tasks"] >= summary["api"]["visits_found"]
    assert db["caseworker_reads"] >= 1
    # the page and the tokens to sign in with
    assert summary["urls"]["web page"].startswith("http://127.0.0.1:")
    assert set(summary["tokens"]) == {
        "caseworker:cili",
        "caseworker:sangzhi",
        "caseworker:wulingyuan",
        "caseworker:yongding",
        "supervisor",
        "ops",
    }


async def _database_facts(dsn: str) -> dict[str, object]:
    conn = await asyncpg.connect(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    try:
        outcomes = await conn.fetch(
            "SELECT outcome, count(*) AS n FROM cases WHERE status = 'closed' GROUP BY outcome"
        )
        completed = await case_views.list_tasks(pool, local_operator(), status="completed")
        return {
            "cases": await conn.fetchval("SELECT count(*) FROM cases"),
            "outcomes": {r["outcome"]: r["n"] for r in outcomes},
            "deadlettered": await conn.fetchval("SELECT count(*) FROM deadletter_log"),
            "enrolments": await conn.fetchval("SELECT count(*) FROM enrolments"),
            "completed_tasks": len(completed),
            "caseworker_reads": await conn.fetchval(
                "SELECT count(*) FROM access_log WHERE role = 'caseworker'"
                " AND actor LIKE 'demo caseworker %' AND action = 'case.read'"
            ),
        }
    finally:
        await pool.close()
        await conn.close()

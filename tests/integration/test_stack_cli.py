"""`outreach stack up|status|down` from the command line, on a private embedded stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support import free_port

OUTREACH = [sys.executable, "-m", "outreach.cli.main"]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OUTREACH, *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # this test is about the embedded stack: ignore external servers a CI run may name
        if k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TEMPORAL_ADDRESS"}
    }
    env.update(
        OUTREACH_STATE_DIR=str(tmp_path / "state"),
        OUTREACH_TEMPORAL_PORT=str(free_port()),
        OUTREACH_TEMPORAL_UI_PORT=str(free_port()),
        OUTREACH_KAFKA_PORT=str(free_port()),
        OUTREACH_POSTGRES_PORT=str(free_port()),
    )
    return env


def test_up_status_down(stack_env: dict[str, str], tmp_path: Path) -> None:
    try:
        up = run(stack_env, "stack", "up", "--json")
        assert up.returncode == 0, up.stderr
        started = {s["name"]: s for s in json.loads(up.stdout)}
        assert set(started) == {"postgres", "kafka", "temporal"}
        assert all(s["healthy"] and s["mode"] == "embedded" for s in started.values())
        pids = {name: s["pid"] for name, s in started.items()}

        # A second `up` reuses what runs.
        again = run(stack_env, "stack", "up", "--json")
        assert again.returncode == 0, again.stderr
        assert {s["name"]: s["pid"] for s in json.loads(again.stdout)} == pids

        status = run(stack_env, "stack", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        lines = [ln for ln in status.stdout.splitlines() if ln.strip()]
        assert len(lines) == 3 and all(" healthy " in ln for ln in lines), status.stdout

        # Another state directory on the same ports: a clear error, and nothing started.
        clash = dict(stack_env, OUTREACH_STATE_DIR=str(tmp_path / "other"))
        conflict = run(clash, "stack", "up")
        assert conflict.returncode == 1
        assert "is taken by" in conflict.stderr
        assert not (tmp_path / "other" / "run").exists() or not any(
            (tmp_path / "other" / "run").iterdir()
        )
        family = set()
        for pid in pids.values():
            proc = psutil.Process(pid)
            family |= {pid, *(c.pid for c in proc.children(recursive=True))}
    finally:
        down = run(stack_env, "stack", "down", "--json")
    assert down.returncode == 0, down.stderr
    assert sorted(json.loads(down.stdout)["stopped"]) == ["kafka", "postgres", "temporal"]
    alive = [p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert alive == []

    after = run(stack_env, "stack", "status", "--json")
    assert after.returncode == 1
    assert not any(s["healthy"] for s in json.loads(after.stdout))

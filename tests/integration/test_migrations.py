"""Migrations: ordered, recorded, each applied once even when two processes race."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from outreach.infra.settings import Settings
from outreach.store.migrations import MigrationError, discover, migrate, migrate_dsn


@pytest.fixture
async def scratch_dsn(settings: Settings) -> str:
    """A database of its own, so these tests see an empty schema."""
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(settings.postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return settings.postgres_dsn.rsplit("/", 1)[0] + "/" + name


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(sql)


async def test_two_concurrent_runners_apply_each_file_once(
    scratch_dsn: str, tmp_path: Path
) -> None:
    mig = tmp_path / "m"
    write(mig, "0001_people.sql", "CREATE TABLE people (id int PRIMARY KEY);")
    # pg_sleep widens the race window: without the lock the second runner would fail or repeat.
    write(mig, "0002_counter.sql", "SELECT pg_sleep(0.3); INSERT INTO people VALUES (1);")
    write(mig, "0010_later.sql", "ALTER TABLE people ADD COLUMN name text;")

    results = await asyncio.gather(migrate_dsn(scratch_dsn, mig), migrate_dsn(scratch_dsn, mig))
    assert sorted(results, key=len) == [[], [1, 2, 10]]

    conn = await asyncpg.connect(scratch_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM people") == 1
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [
            (1, "people"),
            (2, "counter"),
            (10, "later"),
        ]
        assert await migrate(conn, mig) == []
    finally:
        await conn.close()


async def test_failed_migration_leaves_nothing(scratch_dsn: str, tmp_path: Path) -> None:
    mig = tmp_path / "m"
    write(mig, "0001_ok.sql", "CREATE TABLE a (id int);")
    write(mig, "0002_broken.sql", "CREATE TABLE b (id int); SELECT no_such_function();")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await migrate_dsn(scratch_dsn, mig)
    conn = await asyncpg.connect(scratch_dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('b')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
    finally:
        await conn.close()


async def test_changed_applied_migration_is_refused(scratch_dsn: str, tmp_path: Path) -> None:
    mig = tmp_path / "m"
    write(mig, "0001_t.sql", "CREATE TABLE t (id int);")
    await migrate_dsn(scratch_dsn, mig)
    write(mig, "0001_t.sql", "CREATE TABLE t (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate_dsn(scratch_dsn, mig)


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "add_table.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_description\.sql"):
        discover(tmp_path)


async def test_0201_strips_personal_detail_from_existing_household_facts(
    pg_pool: asyncpg.Pool, unique: str
) -> None:
    """Rows projected before 0201 kept ``fact.detail`` in clear; 0201 keeps only a benefit's
    programme (the same rows a rebuild gives). Run on rows of the old shape, then rolled back."""
    [sql] = [m.sql for m in discover() if m.version == 201]
    rows = {
        "benefit": ('"Dibao "', '{"kind": "benefit", "detail": "Dibao "}'),
        "pension": ('{"programme": "tekun", "office": "x"}', '{"kind": "pension", "detail": 1}'),
        "vehicle": ('{"plate": "湘G12345"}', '{"kind": "vehicle", "detail": {"plate": "湘G1"}}'),
    }
    household = f"mig-{unique}"
    async with pg_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            for kind, (detail, fact) in rows.items():
                await conn.execute(
                    "INSERT INTO household_facts (household, kind, detail, fact, reported_at,"
                    " event_id, position) VALUES ($1, $2, $3::jsonb, $4::jsonb, now(), $5, 1)",
                    household,
                    kind,
                    detail,
                    fact,
                    uuid.uuid4(),
                )
            await conn.execute(sql)
            found = {
                r["kind"]: (r["detail"], r["fact"])
                for r in await conn.fetch(
                    "SELECT kind, detail::text, fact::text FROM household_facts"
                    " WHERE household = $1",
                    household,
                )
            }
        finally:
            await tx.rollback()
    assert found == {
        "benefit": ('{"programme": "dibao"}', '{"kind": "benefit"}'),
        "pension": (None, '{"kind": "pension"}'),
        "vehicle": (None, '{"kind": "vehicle"}'),
    }

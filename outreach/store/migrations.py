"""Schema migrations: plain SQL files, applied in order, recorded in ``schema_migrations``.

Files live in ``outreach/store/migrations/`` and are named ``NNNN_description.sql``; the number
orders them and is the version recorded. Each file runs in its own transaction together with its
record, so a failed migration leaves nothing behind. A session-level advisory lock serialises
runners, so two processes starting at once apply each file exactly once (the second waits, then
finds nothing to do). An applied file whose text has changed is refused: write a new file instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from outreach.infra.log import get_logger

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Arbitrary constant key for pg_advisory_lock; shared by every outreach process.
_LOCK_KEY = 0x6F75747265616368  # "outreach"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

log = get_logger(__name__)


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply pending migrations; returns the versions this call applied."""
    migrations = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: r for r in rows}
        done: list[int] = []
        for m in migrations:
            row = applied.get(m.version)
            if row is not None:
                if row["checksum"] != m.checksum:
                    raise MigrationError(
                        f"migration {m.version:04d}_{m.name} was changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version,
                    m.name,
                    m.checksum,
                )
            log.info("migration applied", version=m.version, migration=m.name)
            done.append(m.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def migrate_dsn(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, directory)
    finally:
        await conn.close()

"""PostgreSQL connection pool for service processes; migrations run before first use."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from outreach.infra.settings import Settings
from outreach.store.migrations import migrate

Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"
"""A connection, whether opened directly or borrowed from a pool (both work the same)."""


async def open_pool(settings: Settings, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Apply pending migrations, then open a pool (every service process starts here)."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=min_size, max_size=max_size)
    assert pool is not None
    return pool

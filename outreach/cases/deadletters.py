"""What ops read about dead-lettered input: counts from the ``deadletter_log`` table."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from outreach.store.database import Conn

__all__ = ["deadlettered_by_kind", "deadlettered_count"]


async def deadlettered_count(db: asyncpg.Pool | Conn, *, since: datetime | None = None) -> int:
    """How many inbound messages have been dead-lettered (since a time, if given)."""
    value = await db.fetchval(
        "SELECT count(*) FROM deadletter_log"
        " WHERE $1::timestamptz IS NULL OR deadlettered_at >= $1",
        since,
    )
    return int(value or 0)


async def deadlettered_by_kind(db: asyncpg.Pool | Conn) -> dict[str, int]:
    """Dead-lettered messages per kind (json, unknown_type, schema, id_number, topic)."""
    rows = await db.fetch("SELECT kind, count(*) AS n FROM deadletter_log GROUP BY kind")
    return {str(r["kind"]): int(r["n"]) for r in rows}

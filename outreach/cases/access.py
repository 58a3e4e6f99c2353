"""Who may see and do what: API tokens, the principal behind a request, and the access log."""

# A token is ``otk_`` plus 32 random bytes (URL-safe base64). Only its SHA-256 is stored
# (``api_tokens``), so a leaked database does not leak usable tokens; the token itself is shown
# once, by ``outreach tokens create``. Each token has a role and, for caseworkers and supervisors,
# the districts it may see:
#
# ============  =========================================================================
# role          may
# ============  =========================================================================
# caseworker    see cases and tasks of its districts; complete visits; record objections
# supervisor    the same, and approve (or reject) decisions that need approval
# ops           see every district's cases, tasks and history; act on nothing
# ============  =========================================================================
#
# The CLI runs on a trusted host with the database's credentials, so it acts as a local operator
# (:func:`local_operator`): every district, every action, logged under ``cli:<user>``.
#
# Every read of personal fields (names, ID numbers, phones, addresses, free-text notes) is
# recorded in ``access_log`` by :func:`record_access`, in the same request that returns them.

from __future__ import annotations

import getpass
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal, TypeAlias

import asyncpg

from outreach.store.database import Conn

__all__ = [
    "Action",
    "Channel",
    "Principal",
    "Role",
    "TokenError",
    "TokenInfo",
    "authenticate",
    "create_token",
    "list_tokens",
    "local_operator",
    "record_access",
    "revoke_token",
]

TOKEN_PREFIX: Final = "otk_"

Channel = Literal["api", "web", "cli"]

Db: TypeAlias = "Conn | asyncpg.Pool"
"""A connection or a pool (each call here is one statement)."""


class Role(StrEnum):
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    OPS = "ops"


class Action(StrEnum):
    COMPLETE_VISIT = "complete_visit"
    RAISE_OBJECTION = "raise_objection"
    APPROVE = "approve"


_MAY: Final[dict[Role, frozenset[Action]]] = {
    Role.CASEWORKER: frozenset({Action.COMPLETE_VISIT, Action.RAISE_OBJECTION}),
    Role.SUPERVISOR: frozenset(Action),
    Role.OPS: frozenset(),
}


class TokenError(ValueError):
    """A token request that cannot be granted (e.g. a caseworker without districts)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's holder, or the local operator (CLI).

    ``districts`` is None for every district (ops, the local operator).
    """

    name: str
    role: Role
    districts: frozenset[str] | None
    token_id: uuid.UUID | None = None
    local: bool = False

    def may_see(self, district: str | None) -> bool:
        if self.districts is None:
            return True
        return district is not None and district in self.districts

    def may(self, action: Action) -> bool:
        return self.local or action in _MAY[self.role]

    def visible(self, district: str | None) -> frozenset[str] | None:
        """Districts a listing may show: ``district`` if given (and visible), else all of mine.

        None means no restriction; an empty set means nothing is visible.
        """
        if district is not None:
            return frozenset({district}) if self.may_see(district) else frozenset()
        return self.districts


def local_operator() -> Principal:
    """The CLI's principal: a trusted operator on the host, every district, every action."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(name=f"cli:{user}", role=Role.OPS, districts=None, local=True)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_token(
    conn: Db, *, role: Role | str, districts: Iterable[str] = (), name: str
) -> tuple[str, Principal]:
    """A new token (returned once, never stored) and the principal it stands for."""
    try:
        role = Role(role)
    except ValueError:
        raise TokenError(f"no role {role!r} (caseworker, supervisor or ops)") from None
    wanted = frozenset(d.strip() for d in districts if d.strip())
    if role is not Role.OPS and not wanted:
        raise TokenError(f"a {role} token needs at least one district")
    if role is Role.OPS and wanted:
        raise TokenError("an ops token sees every district: give it no districts")
    if not name.strip():
        raise TokenError("a token needs a name (who holds it)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO api_tokens (token_id, token_hash, name, role, districts)"
        " VALUES ($1, $2, $3, $4, $5)",
        token_id,
        _hash(token),
        name.strip(),
        role.value,
        sorted(wanted) if role is not Role.OPS else [],
    )
    return token, Principal(
        name=name.strip(),
        role=role,
        districts=None if role is Role.OPS else wanted,
        token_id=token_id,
    )


async def authenticate(conn: Db, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token; None otherwise."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await conn.fetchrow(
        "SELECT token_id, name, role, districts FROM api_tokens"
        " WHERE token_hash = $1 AND revoked_at IS NULL",
        _hash(token),
    )
    if row is None:
        return None
    role = Role(row["role"])
    return Principal(
        name=row["name"],
        role=role,
        districts=None if role is Role.OPS else frozenset(row["districts"]),
        token_id=row["token_id"],
    )


async def revoke_token(conn: Db, token_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL",
        token_id,
    )
    return status == "UPDATE 1"


@dataclass(frozen=True)
class TokenInfo:
    token_id: uuid.UUID
    name: str
    role: str
    districts: tuple[str, ...]
    revoked: bool


async def list_tokens(conn: Db) -> list[TokenInfo]:
    rows = await conn.fetch(
        "SELECT token_id, name, role, districts, revoked_at IS NOT NULL AS revoked"
        " FROM api_tokens ORDER BY created_at"
    )
    return [
        TokenInfo(r["token_id"], r["name"], r["role"], tuple(r["districts"]), r["revoked"])
        for r in rows
    ]


async def record_access(
    conn: Db,
    principal: Principal,
    *,
    channel: Channel,
    action: str,
    fields: Iterable[str],
    case_id: str | None = None,
    household: str | None = None,
) -> None:
    """Record that ``principal`` was shown these personal ``fields`` (dotted paths)."""
    shown = sorted(set(fields))
    if not shown:
        return
    await conn.execute(
        "INSERT INTO access_log (actor, token_id, role, channel, action, case_id, household,"
        " fields) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        principal.name,
        principal.token_id,
        principal.role.value,
        channel,
        action,
        case_id,
        household,
        shown,
    )

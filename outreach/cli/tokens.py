"""``outreach tokens create|list|revoke``: bearer tokens for the HTTP API and the web page.

A token is printed once, by ``create``; the database keeps only its SHA-256
(:mod:`outreach.cases.access`). ``list`` shows ids, holders, roles and districts, never tokens;
``revoke`` ends a token at once (the next request with it gets 401).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from outreach.infra.settings import Settings

__all__ = ["register"]


async def _create(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.cases.access import TokenError, create_token
    from outreach.store.database import open_pool

    pool = await open_pool(settings, max_size=1)
    try:
        token, who = await create_token(
            pool, role=args.role, districts=args.district or (), name=args.name
        )
    except TokenError as exc:
        print(f"outreach tokens create: {exc}", file=sys.stderr)
        return 2
    finally:
        await pool.close()
    districts = sorted(who.districts) if who.districts is not None else None
    if args.json:
        print(
            json.dumps(
                {
                    "token": token,
                    "token_id": str(who.token_id),
                    "name": who.name,
                    "role": who.role.value,
                    "districts": districts,
                }
            )
        )
    else:
        scope = ", ".join(districts) if districts is not None else "every district"
        print(token)
        print(
            f"token {who.token_id}: {who.role.value} {who.name} ({scope}); shown only now,"
            " keep it secret",
            file=sys.stderr,
        )
    return 0


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.cases.access import list_tokens
    from outreach.store.database import open_pool

    pool = await open_pool(settings, max_size=1)
    try:
        tokens = await list_tokens(pool)
    finally:
        await pool.close()
    rows: list[dict[str, Any]] = [
        {
            "token_id": str(t.token_id),
            "name": t.name,
            "role": t.role,
            "districts": list(t.districts) if t.role != "ops" else None,
            "revoked": t.revoked,
        }
        for t in tokens
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        scope = ",".join(row["districts"]) if row["districts"] is not None else "*"
        state = "revoked" if row["revoked"] else "active"
        print(f"{row['token_id']}  {row['role']:<10} {state:<7} {scope:<24} {row['name']}")
    if not rows:
        print("no tokens")
    return 0


async def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.cases.access import revoke_token
    from outreach.store.database import open_pool

    try:
        token_id = uuid.UUID(args.token_id)
    except ValueError:
        print(f"outreach tokens revoke: {args.token_id!r} is not a token id", file=sys.stderr)
        return 2
    pool = await open_pool(settings, max_size=1)
    try:
        revoked = await revoke_token(pool, token_id)
    finally:
        await pool.close()
    if not revoked:
        print(f"outreach tokens revoke: no active token {token_id}", file=sys.stderr)
        return 1
    print(f"revoked {token_id}")
    return 0


def register(sub: Any) -> None:
    """Add ``tokens`` to the ``outreach`` parser's subparsers."""
    from outreach.cases.access import Role

    tokens = sub.add_parser("tokens", help="bearer tokens for the HTTP API and web page")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)

    create = tokens_sub.add_parser(
        "create", help="create a token and print it (only now: the database keeps a hash)"
    )
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument(
        "--district",
        action="append",
        metavar="D",
        help="a district the token may see (repeat for more; required for caseworker and"
        " supervisor, not allowed for ops, who see every district)",
    )
    create.add_argument("--name", required=True, help="who holds the token (shown in the log)")
    create.add_argument("--json", action="store_true", help="print token and details as JSON")
    create.set_defaults(handler=_create)

    listing = tokens_sub.add_parser("list", help="tokens (ids, holders, roles, districts)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    revoke = tokens_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", metavar="TOKEN_ID")
    revoke.set_defaults(handler=_revoke)

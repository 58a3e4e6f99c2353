"""``outreach households shred``: crypto-shred a household's personal data (right to erasure).

Deleting the household's data key makes every personal field of its events unreadable at once,
in the event store, in the sealed free text of its cases' Temporal histories
(``outreach.store.sealed_text``) and in its outbox rows (``EventStore.shred``); the events
themselves, their figures and the decisions stay, so counts and audits still add up. There is no
undo.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from outreach.infra.settings import Settings

__all__ = ["register"]


async def _shred(settings: Settings, args: argparse.Namespace) -> int:
    from outreach.store.database import open_pool
    from outreach.store.event_store import EventStore
    from outreach.store.personal_data import load_keyring

    if not args.yes:
        print(
            "outreach households shred: this makes the household's personal fields unreadable"
            " for good; add --yes to do it",
            file=sys.stderr,
        )
        return 2
    pool = await open_pool(settings, min_size=1, max_size=1)
    try:
        store = EventStore(pool, load_keyring(settings), notify=False)
        stream = store.stream_key(args.household_id)
        deleted = await store.shred(stream)
    finally:
        await pool.close()
    if args.json:
        print(json.dumps({"household": stream, "shredded": deleted}))
    elif deleted:
        print(f"household {stream}: data key deleted; its personal fields are unreadable")
    else:
        print(f"household {stream}: no data key (never stored, or shredded already)")
    return 0 if deleted else 1


def register(sub: Any) -> None:
    """Add ``households`` to the ``outreach`` parser's subparsers."""
    households = sub.add_parser("households", help="a household's personal data")
    actions = households.add_subparsers(dest="action", required=True, metavar="ACTION")
    shred = actions.add_parser(
        "shred", help="delete the household's data key: its personal fields become unreadable"
    )
    shred.add_argument("household_id", metavar="HOUSEHOLD_ID", help="the agency's household id")
    shred.add_argument("--yes", action="store_true", help="confirm: there is no undo")
    shred.add_argument("--json", action="store_true", help="machine-readable output")
    shred.set_defaults(handler=_shred)

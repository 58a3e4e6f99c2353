"""Transient or permanent: the one rule that sorts a failure into "retry" or "set it aside".

Transient: a service is unreachable or busy (connection lost, refused, timed out, shutting down,
a serialisation or deadlock abort, Temporal unavailable); retrying the same work later succeeds.
Permanent: this message or event can never be handled (a value the database refuses, a program
limit, a constraint, text no encoding holds, a message the broker refuses for its size); retrying
it forever would block everything behind it, so the caller dead-letters or records it and goes on.
Anything unknown counts as transient: a bug then shows as a retrying step in the log rather than
as silently skipped input.
"""

from __future__ import annotations

import asyncio
from typing import Final

import asyncpg
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from temporalio.service import RPCError, RPCStatusCode

__all__ = ["is_permanent", "is_transient"]

# SQLSTATE classes of the data itself: data exception, integrity violation, program limit (e.g.
# an index row too large). Not 42 (an undefined table or a missing grant is the installation's
# fault, fixed by a migration or a grant: retried, not skipped), nor 08 (connection), 40
# (serialisation, deadlock), 53 (resources), 57 (shutdown).
_PERMANENT_SQLSTATE_CLASSES: Final = frozenset({"22", "23", "54"})
# Kafka errors about the message, not the cluster (aiokafka's ``retriable`` flag calls a timeout
# or an authorisation failure non-retriable too: those are the cluster's, and pass).
_PERMANENT_KAFKA: Final = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTimestampError,
)
# A request Temporal refuses for what it carries (a payload or search attribute too large).
_PERMANENT_RPC: Final = frozenset({RPCStatusCode.INVALID_ARGUMENT})


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the work that raised ``exc`` cannot succeed."""
    if isinstance(exc, UnicodeError | OverflowError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate[:2] in _PERMANENT_SQLSTATE_CLASSES
    if isinstance(exc, _PERMANENT_KAFKA):
        return True
    if isinstance(exc, RPCError):
        return exc.status in _PERMANENT_RPC
    if isinstance(exc, asyncio.TimeoutError | OSError):
        return False
    cause = exc.__cause__
    return cause is not None and cause is not exc and is_permanent(cause)


def is_transient(exc: BaseException) -> bool:
    """True when the same work should be retried later (the negation of :func:`is_permanent`)."""
    return not is_permanent(exc)

"""The request fields the API, the page and the CLI take: bounded ids and text, refused with 422."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Path, Query
from pydantic import AfterValidator, Field

from outreach.events.limits import MAX_ID as MAX_HOUSEHOLD_ID
from outreach.events.limits import MAX_PLACE

__all__ = [
    "ID_PATTERN",
    "MAX_ID",
    "MAX_OFFSET",
    "Id",
    "Offset",
    "PathId",
    "QueryHouseholdId",
    "QueryText",
    "Text",
]

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
"""Case, task, decision and objection ids: UUIDs in practice; any other id of this shape is
simply unknown (404)."""
MAX_ID: Final = 100
MAX_OFFSET: Final = 1_000_000_000
"""Far past any listing, far inside PostgreSQL's ``bigint`` (``9223372036854775808`` was a 500)."""
_PRINTABLE: Final = r"^[^\x00-\x1f\x7f]*$"

# what the URL may carry, refused before any query (PostgreSQL cannot hold a NUL)
PathId = Annotated[str, Path(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN)]
"""A case or task id in a path."""
QueryText = Annotated[str | None, Query(max_length=MAX_PLACE, pattern=_PRINTABLE)]
"""A filter in the query string (district, stage): no control character, 100 characters."""
QueryHouseholdId = Annotated[str | None, Query(max_length=MAX_HOUSEHOLD_ID, pattern=_PRINTABLE)]
"""An agency's household id in the query string (as long as ingest takes one)."""
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN)]
"""An id in a request body (``decision_id``, ``objection_id``)."""


def _storable(text: str) -> str:
    # the text reaches the event store, and PostgreSQL's text and jsonb cannot hold a NUL (an
    # unpaired surrogate is refused by pydantic already: it is not Unicode)
    if "\x00" in text:
        raise ValueError("must not contain a NUL character (\\u0000)")
    return text


Text = Annotated[str, AfterValidator(_storable)]
"""Free text in a request body (notes, comment, summary); each field sets its ``max_length``."""

"""What the HTTP API and the page take: one body limit, bounded ids and text, safe 422 answers.

- :class:`BodyLimit` answers 413 before the app reads a body larger than the limit, by its
  ``Content-Length`` or, for a chunked body, as soon as the bytes received pass it (the API
  shares its event loop with ingest and the worker: a large body must cost nothing).
- :data:`PathId`, :data:`QueryText`, :data:`QueryHouseholdId`, :data:`Offset`: what the URL may
  carry, refused with 422 before any query (PostgreSQL cannot hold a NUL; ``offset`` is bound
  far inside ``bigint``).
- :data:`Id` and :data:`Text`: the request bodies' ids and free text (``case_commands``).
- :func:`unprocessable`: FastAPI's 422 lists the fields that do not fit; the answer never echoes
  the input (it may be personal, or a NaN that no JSON can carry).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outreach.events.limits import MAX_ID as MAX_HOUSEHOLD_ID
from outreach.events.limits import MAX_PLACE

__all__ = [
    "ID_PATTERN",
    "MAX_ID",
    "MAX_OFFSET",
    "BodyLimit",
    "Id",
    "Offset",
    "PathId",
    "QueryHouseholdId",
    "QueryText",
    "Text",
    "unprocessable",
]

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
"""Case, task, decision and objection ids: UUIDs in practice; any other id of this shape is
simply unknown (404)."""
MAX_ID: Final = 100
MAX_OFFSET: Final = 1_000_000_000
"""Far past any listing, far inside PostgreSQL's ``bigint`` (``9223372036854775808`` was a 500)."""
_PRINTABLE: Final = r"^[^\x00-\x1f\x7f]*$"

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


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``limit`` bytes, read no further.

    A declared length over the limit is refused before the app runs. A chunked body is counted
    as the app reads it: once past the limit the 413 is sent, the app is told the client went
    away, and whatever it answers or raises after that is dropped.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        received = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise
            # the app failed on a body cut short (FastAPI: 400, or a disconnect error through
            # a middleware); the client has its 413

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"the request body is larger than {self.limit:,} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # no "Connection: close": closing with the body still arriving resets the
                    # connection before the client reads the 413; uvicorn drops the rest unparsed
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def unprocessable(request: Request, exc: Exception) -> JSONResponse:
    """422 listing each field that does not fit (``loc``, ``msg``, ``type``), without the input."""
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)

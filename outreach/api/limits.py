"""The HTTP edge's limits: a body limit answered with 413, and 422 answers that echo no input."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "unprocessable"]


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``limit`` bytes, read no further.

    A declared length over the limit is refused before the app runs. A chunked body is counted
    as the app reads it: once past the limit the 413 is sent, the app is told the client went
    away, and whatever it answers or raises after that is dropped. (The API shares its event
    loop with ingest and the worker: a large body must cost nothing.)
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

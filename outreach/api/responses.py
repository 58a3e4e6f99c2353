"""The API's error answers as OpenAPI documents them, and the acknowledgement of an update."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel

from outreach.cases import views as case_views
from outreach.workflows.case_contract import UpdateAck

__all__ = ["COMMAND", "READ", "READ_ONE", "ErrorOut", "RejectedOut", "ack", "responses"]


class ErrorOut(BaseModel):
    detail: str


class RejectedOut(BaseModel):
    detail: str | list[dict[str, Any]]
    """The case's reason, or (a body that does not fit) the fields that do not, as FastAPI
    lists them."""


_ERROR_TEXT: dict[int, str] = {
    413: "The request body is larger than the limit (OUTREACH_API_MAX_BODY_BYTES); not read.",
    401: "No valid bearer token (missing, unknown or revoked).",
    403: "The case, task or district is outside the token's districts, or the role may not act.",
    404: "No such case or task.",
    422: "The body does not fit (the fields listed) or the case rejected it (the validator's"
    " reason); nothing changed.",
    503: "The case did not answer in time (no worker running or Temporal unreachable).",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route answering these error codes."""
    return {
        code: {"model": RejectedOut if code == 422 else ErrorOut, "description": _ERROR_TEXT[code]}
        for code in codes
    }


READ = responses(401, 403, 422)
READ_ONE = responses(401, 403, 404, 422)
COMMAND = responses(401, 403, 404, 413, 422, 503)


def ack(update: UpdateAck) -> dict[str, Any]:
    """An accepted update as the API returns it."""
    body: dict[str, Any] = case_views.jsonable(dataclasses.asdict(update))
    return body

"""The API's dependencies: the process's services and the principal behind the bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from outreach.cases.access import Principal, authenticate
from outreach.cases.services import Services

__all__ = ["Svc", "Who", "forbid_district", "principal", "services"]


def services(request: Request) -> Services:
    """The process's services, set by the app's lifespan."""
    svc: Services = request.app.state.services
    return svc


_bearer = HTTPBearer(auto_error=False, description="A token from `outreach tokens create`.")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The token's principal; 401 when the token is missing, unknown or revoked."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = await authenticate(services(request).db, credentials.credentials)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the token is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return found


Svc = Annotated[Services, Depends(services)]
Who = Annotated[Principal, Depends(principal)]


def forbid_district(who: Principal, district: str | None) -> None:
    """403 for a district filter outside the principal's districts."""
    if district is not None and not who.may_see(district):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"district {district} is not one of yours")

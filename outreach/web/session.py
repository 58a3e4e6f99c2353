"""Who is using the page: the token in the session cookie, CSRF tokens, the language cookie."""

# A person signs in by pasting their API token (from ``outreach tokens create``); the page checks
# it with :func:`outreach.cases.access.authenticate` on every request (a revoked token stops
# working at once) and keeps it in an HttpOnly, SameSite=Strict cookie (Secure over https).
#
# Forms that change something carry a CSRF token derived from the session token (an HMAC under a
# fixed label): another site can neither read the HttpOnly cookie nor compute the token, and every
# API process derives the same value, so nothing is kept server-side. POSTs whose ``Origin`` names
# another host are refused as well.

from __future__ import annotations

import hashlib
import hmac
from typing import Final
from urllib.parse import urlsplit

from fastapi import Request
from starlette.responses import Response

from outreach.cases.access import Principal, authenticate
from outreach.web.i18n import Lang

__all__ = [
    "LANG_COOKIE",
    "SESSION_COOKIE",
    "CsrfError",
    "SignInRequired",
    "check_origin",
    "clear_session",
    "csrf_token",
    "current_principal",
    "safe_next",
    "session_token",
    "set_lang",
    "set_session",
    "verify_csrf",
]

SESSION_COOKIE: Final = "outreach_session"
LANG_COOKIE: Final = "lang"
_CSRF_LABEL: Final = b"outreach-web-csrf-v1"
_LANG_MAX_AGE: Final = 365 * 86400


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form."""


class CsrfError(Exception):
    """A form post without this session's CSRF token, or from another origin."""


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


async def current_principal(request: Request) -> Principal:
    """The signed-in person; :class:`SignInRequired` without a valid, unrevoked token."""
    token = session_token(request)
    if token is None:
        raise SignInRequired
    principal = await authenticate(request.app.state.services.db, token)
    if principal is None:
        raise SignInRequired
    return principal


def csrf_token(session: str) -> str:
    return hmac.new(session.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def check_origin(request: Request) -> None:
    """Raise :class:`CsrfError` when the browser says the form came from another site."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise CsrfError(f"form posted from another origin ({origin})")


def verify_csrf(request: Request, submitted: object) -> None:
    """Raise :class:`CsrfError` unless ``submitted`` is this session's token (same origin)."""
    check_origin(request)
    session = session_token(request)
    if session is None or not isinstance(submitted, str):
        raise CsrfError("missing CSRF token")
    if not hmac.compare_digest(csrf_token(session), submitted):
        raise CsrfError("wrong CSRF token")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )


def set_lang(request: Request, response: Response, lang: Lang) -> None:
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=_LANG_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def safe_next(target: str | None) -> str:
    """A local path to return to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target

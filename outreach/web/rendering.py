"""Rendering a page: the templates, the language in use, and the headers every page carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from outreach.cases.access import Principal
from outreach.web.i18n import LANGS, Lang, Translator, translator
from outreach.web.session import LANG_COOKIE, csrf_token, session_token, set_lang

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "href", "lang_of", "render"]

HERE: Final = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = HERE / "templates"
STATIC_DIR: Final = HERE / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)

SECURITY_HEADERS: Final = {
    # everything comes from this origin: no CDN, no inline script, no framing
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # pages show personal data: keep them out of shared caches and the back-forward cache
    "Cache-Control": "no-store",
}


def _requested_lang(request: Request) -> Lang | None:
    wanted = request.query_params.get("lang")
    if wanted == "zh":
        return "zh-CN"
    for lang in LANGS:
        if wanted == lang:
            return lang
    return None


def lang_of(request: Request) -> Translator:
    """``?lang=`` if given, else the ``lang`` cookie, else Simplified Chinese."""
    return translator(_requested_lang(request) or request.cookies.get(LANG_COOKIE))


def href(request: Request, path: str) -> str:
    """``path`` under the app's root path (a reverse proxy's prefix)."""
    return str(request.scope.get("root_path", "")).rstrip("/") + path


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    who: Principal | None = None,
    status_code: int = 200,
    nav: str | None = None,
) -> HTMLResponse:
    tr = lang_of(request)
    session = session_token(request)
    switch = request.url.include_query_params(lang=tr.other)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "tr": tr,
            "who": who,
            "nav": nav,
            "csrf": csrf_token(session) if session and who else "",
            "href": lambda path: href(request, path),
            "lang_switch": f"{switch.path}?{switch.query}",
            **context,
        },
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )
    requested = _requested_lang(request)
    if requested is not None:
        set_lang(request, response, requested)
    return response

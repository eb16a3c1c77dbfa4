"""The error pages, in the page's language (from the path; bokmål when it names none)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.exceptions.http_exceptions import TooManyRequestsException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from hanport.web import metrics
from hanport.web.render import page
from hanport.web.texts import DEFAULT, LANGUAGES


def language_of(path: str) -> str:
    first = path.split("/")[1] if path.count("/") >= 1 else ""
    return first if first in LANGUAGES else DEFAULT


def problem(request: Request[Any, Any, Any], key: str, status: int, lang: str | None = None) -> Any:
    return page(request, "problem.html", lang or language_of(request.url.path), status, key=key)


def _key(exc: HTTPException) -> str:
    if isinstance(exc, PermissionDeniedException):
        return "csrf"  # the one 403 here: the CSRF middleware's refusal
    if isinstance(exc, TooManyRequestsException):
        metrics.RATE_LIMITED.inc()
        return "rate"
    if isinstance(exc, NotFoundException):
        return "not_found"
    if exc.status_code == 413:
        return "too_large"
    return "bad_request"


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    response = problem(request, _key(exc), exc.status_code)
    headers = dict(exc.headers or {})
    return _with(response, headers)


def _with(response: Any, headers: dict[str, str]) -> Any:
    response.headers.update(headers)
    return response


def server_error(request: Request[Any, Any, Any], exc: Exception) -> Any:
    return problem(request, "busy", HTTP_500_INTERNAL_SERVER_ERROR)

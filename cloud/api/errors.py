"""Every error the API answers, in one shape, mapped from the error kinds in one place.

The shape: ``{"detail": [{"field": ..., "value": ..., "reason": ...}, ...]}``, one entry per
problem (pydantic may find several), whatever raised it: a service's error kind
(``cloud/errors.py``), the contract's ``ContractError``, pydantic's validation of a request,
an ``HTTPException`` (an unknown route, a body too large), a store that is down, or a bug (500).
``install(app)`` registers the handlers; the status of each kind is in ``STATUS``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from furrow.edge.errors import ContractError

from ..errors import Conflict, Forbidden, FurrowError, Gone, NotFound, RateLimited, Unauthenticated, printable
from ..ingest import PayloadTooLarge
from ..storage import StorageRejected, StorageUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5  # what a client is told to wait for a store that is down

# Each kind of error and its status; a subclass takes its base's (the most specific listed wins).
STATUS: dict[type[Exception], int] = {
    PayloadTooLarge: 413,
    ContractError: 422,
    NotFound: 404,
    Gone: 410,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    StorageUnavailable: 503,
    StorageRejected: 502,
}

# pydantic's locations: the first part says where the field is, the rest is its name
_WHERE = frozenset({"body", "query", "path", "header", "cookie"})


def problem(field: str | None, value: Any, reason: str) -> dict[str, Any]:
    """One entry of the shape, its value made JSON-safe (errors repeat hostile input)."""
    return {"field": field, "value": printable(value), "reason": reason}


def problems_response(status: int, problems: Iterable[Mapping[str, Any]],
                      headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one error answer."""
    detail = [problem(p.get("field"), p.get("value"), str(p.get("reason") or "")) for p in problems]
    return JSONResponse({"detail": detail}, status_code=status, headers=dict(headers or {}))


def status_of(e: Exception) -> int:
    for kind in type(e).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def _headers(e: Exception) -> dict[str, str]:
    if isinstance(e, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(e, RateLimited):
        return {"Retry-After": str(e.retry_after_s)}
    if isinstance(e, StorageUnavailable):
        return {"Retry-After": str(RETRY_AFTER_S)}
    return {}


async def _known(_: Request, e: Exception) -> Response:
    """A service's error kind or the contract's ContractError: its own field, value and reason."""
    if isinstance(e, StorageUnavailable):
        entry = problem(None, e.backend, f"storage unavailable, nothing was stored; retry later ({e.reason})")
    elif isinstance(e, StorageRejected):
        entry = problem(None, e.backend, f"storage refused the data: {e.reason}")
    else:
        entry = problem(getattr(e, "field", None), getattr(e, "value", None), getattr(e, "reason", str(e)))
    return problems_response(status_of(e), [entry], _headers(e))


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """pydantic's location as the caller names the field: ("body", "points", 0, "raw") is
    "points.0.raw", ("query", "limit") is "limit"; the body as a whole is "body"."""
    parts = list(loc[1:]) if loc and loc[0] in _WHERE else list(loc)
    if parts and loc and loc[0] == "body" and isinstance(parts[0], int) and len(parts) == 1:
        parts = []  # a position in a body that did not parse
    return ".".join(str(printable(p)) for p in parts) or str(loc[0] if loc else "body")


async def _validation(_: Request, e: Exception) -> Response:
    """pydantic's findings, each named by its field."""
    assert isinstance(e, RequestValidationError)
    out = []
    for err in e.errors():
        reason = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            reason = f"not valid JSON: {err.get('ctx', {}).get('error', reason)}"
        value = None if err.get("type") == "missing" else err.get("input")
        out.append(problem(field_of(err.get("loc", ())), value, reason))
    return problems_response(422, out)


async def _http(request: Request, e: Exception) -> Response:
    """An HTTPException: an unknown route (404), a wrong method (405), a body too large or too
    slow (cloud/limits.py), a JSON body refused (api/json_body.py)."""
    assert isinstance(e, HTTPException)
    if e.status_code in (204, 304) or e.status_code < 200:
        return Response(status_code=e.status_code, headers=e.headers)
    detail = e.detail
    if isinstance(detail, Mapping):
        entries: list[Mapping[str, Any]] = [detail]
    elif isinstance(detail, list):
        entries = detail
    elif e.status_code == 404:
        entries = [{"field": "path", "value": request.url.path, "reason": "no such route"}]
    elif e.status_code == 405:
        entries = [{"field": "method", "value": request.method, "reason": f"not allowed here ({detail})"}]
    else:
        entries = [{"field": None, "value": None, "reason": str(detail)}]
    return problems_response(e.status_code, entries, e.headers)


async def _bug(_: Request, e: Exception) -> Response:
    """A bug: answered in the same shape (the server logs the traceback)."""
    return problems_response(500, [problem(None, None, f"internal error ({type(e).__name__}); it is logged")])


def install(app: FastAPI) -> None:
    """Register the handlers: every error `app` answers has the one shape."""
    for kind in (FurrowError, ContractError, StorageUnavailable, StorageRejected):
        app.add_exception_handler(kind, _known)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _bug)

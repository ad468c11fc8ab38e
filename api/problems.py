"""Every error answer is ``application/problem+json`` (RFC 9457) with a title and a detail."""

from __future__ import annotations

import sqlite3
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from crm.errors import (
    Conflict,
    CrmError,
    FileRefused,
    Forbidden,
    MissingInformation,
    NotFound,
    ServiceUnavailable,
    TooLarge,
    UnsupportedType,
)
from crm.policies import PolicyError

log = structlog.get_logger(__name__)

__all__ = ["ServiceUnavailable", "install", "invalid", "problem"]

STATUS_OF: dict[type[CrmError], int] = {
    NotFound: 404,
    Forbidden: 403,
    MissingInformation: 409,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedType: 415,
}


DATABASE = "the CRM database"
TEMPORAL = "Temporal"

# PostgreSQL's SQLSTATEs for a server that cannot serve: connection exceptions (08),
# insufficient resources such as too many connections (53), shutting down, starting up or
# database dropped (57P).
_DATABASE_DOWN_SQLSTATES = ("08", "53", "57P")
# 55000 (object not in prerequisite state) while connecting: ALLOW_CONNECTIONS false.
_REFUSING_CONNECTIONS = "55000"

# Temporal could not answer, or not in time; anything else is crmflow's mistake (500).
# UNKNOWN is what the SDK reports for a broken transport once its retries give up.
_TEMPORAL_DOWN = frozenset({
    RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED, RPCStatusCode.ABORTED, RPCStatusCode.INTERNAL, RPCStatusCode.UNKNOWN,
})


def unavailable_system(error: BaseException) -> str | None:
    """The system crmflow depends on that this error says is down, or None (a bug: 500)."""
    if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return DATABASE  # no pooled connection came free in time / the pool lost it
    if isinstance(error, sa_exc.DBAPIError):
        # An InterfaceError counts only as a disconnect (connection_invalidated): otherwise
        # it is the driver refusing a misuse, such as a parameter it cannot bind.
        sqlstate = str(getattr(error.orig, "sqlstate", None) or "")
        down = (
            error.connection_invalidated
            or (isinstance(error, sa_exc.OperationalError) and not _sqlite_sql_error(error.orig))
            or sqlstate.startswith(_DATABASE_DOWN_SQLSTATES)
            or (sqlstate == _REFUSING_CONNECTIONS and error.statement is None)
        )
        return DATABASE if down else None
    if isinstance(error, RPCTimeoutOrCancelledError):
        return TEMPORAL
    if isinstance(error, RPCError) and error.status in _TEMPORAL_DOWN:
        return TEMPORAL
    return None


def _sqlite_sql_error(orig: BaseException | None) -> bool:
    """SQLite's generic error (a syntax error, no such table): a bug, not an outage, though
    sqlite3 raises it as an OperationalError like "database is locked"."""
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_ERROR


def failure_reason(error: BaseException) -> str:
    """The driver's own words, first line only, for the log (never for the answer)."""
    if isinstance(error, sa_exc.DBAPIError):
        error = error.orig or error
    text = error.message if isinstance(error, RPCError) else str(error)
    return text.splitlines()[0] if text else type(error).__name__


def problem(
    request: Request, status: int, title: str, detail: str, **extensions: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extensions,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json",
                        headers=headers)


def invalid(field: str, message: str) -> RequestValidationError:
    """A 422 naming a body field whose value the database rejects (an unknown id)."""
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(CrmError)
    async def crm_error(request: Request, error: CrmError) -> JSONResponse:
        status = next(code for kind, code in STATUS_OF.items() if isinstance(error, kind))
        extra: dict[str, Any] = (
            {"missing": error.missing} if isinstance(error, MissingInformation)
            else {"field": "file", "limit": error.limit} if isinstance(error, FileRefused)
            else {})
        return problem(request, status, error.title, error.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(request, 422, "Invalid request", detail, errors=errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        title = HTTPStatus(error.status_code).phrase
        detail = error.detail if isinstance(error.detail, str) else title
        return problem(request, error.status_code, title, detail)

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, error: ServiceUnavailable) -> JSONResponse:
        response = problem(request, 503, "Service unavailable", error.detail)
        response.headers["Retry-After"] = str(error.retry_after)
        return response

    async def dependency_down(request: Request, error: Exception) -> JSONResponse:
        system = unavailable_system(error)
        if system is None:
            raise error  # on to the 500 answer below
        # An outage is expected weather, not a bug: one line, no traceback.
        log.warning("dependency unavailable", system=system, error=type(error).__name__,
                    reason=failure_reason(error), path=request.url.path)
        return await unavailable(
            request, ServiceUnavailable(f"{system} is unavailable; try again later")
        )

    for kind in (sa_exc.SQLAlchemyError, RPCError, RPCTimeoutOrCancelledError):
        app.add_exception_handler(kind, dependency_down)

    @app.exception_handler(PolicyError)
    async def bad_policy(request: Request, error: PolicyError) -> JSONResponse:
        log.error("policy file unusable", error=str(error))
        return problem(request, 500, "Policy file unusable", str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", path=request.url.path)
        return problem(request, 500, "Internal server error",
                       "the server failed to answer; the error is in its log")

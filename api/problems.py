"""Every error answer is ``application/problem+json`` (RFC 9457) with a title and a detail."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from crm.errors import Conflict, CrmError, Forbidden, MissingInformation, NotFound
from crm.policies import PolicyError

log = structlog.get_logger(__name__)

STATUS_OF: dict[type[CrmError], int] = {
    NotFound: 404,
    Forbidden: 403,
    MissingInformation: 409,
    Conflict: 409,
}


class ServiceUnavailable(Exception):
    """A system crmflow depends on (Temporal) does not answer: 503, try again later."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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
        extra = {"missing": error.missing} if isinstance(error, MissingInformation) else {}
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
        return problem(request, 503, "Service unavailable", error.detail)

    @app.exception_handler(PolicyError)
    async def bad_policy(request: Request, error: PolicyError) -> JSONResponse:
        log.error("policy file unusable", error=str(error))
        return problem(request, 500, "Policy file unusable", str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", path=request.url.path)
        return problem(request, 500, "Internal server error",
                       "the server failed to answer; the error is in its log")

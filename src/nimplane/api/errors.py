"""The one error table: domain errors and framework errors -> Run:ai's `{code, message}` bodies."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from nimplane.domain.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Overloaded,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from nimplane.domain.requests import issue_path

STATUS_OF: dict[type[DomainError], int] = {
    Invalid: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    RateLimited: 429,
    Unavailable: 503,
}


def error_response(
    status: int, message: str, *, retry_after: int | None = None, **extra: Any
) -> Response:
    body = {"code": status, "message": message, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def status_of(exc: DomainError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 500


def domain_error_response(exc: DomainError) -> Response:
    status = status_of(exc)
    if isinstance(exc, Invalid):
        issues = [{"field": i.field, "details": i.details, "rule": i.rule} for i in exc.issues]
        return error_response(status, exc.message, complianceIssues=issues)
    if isinstance(exc, (RateLimited, Overloaded)):
        return error_response(status, exc.message, retry_after=exc.retry_after)
    return error_response(status, exc.message)


async def _domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc)


async def _request_validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        {"field": issue_path(tuple(e["loc"])), "details": e["msg"], "rule": None}
        for e in exc.errors()
    ]
    return error_response(400, "Bad request: invalid parameters", complianceIssues=issues)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "Resource not found.", 405: "Method not allowed."}
    return error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)))


def unexpected_error_response() -> Response:
    """An exception nothing mapped (`api.edge` logs it): a bare 500, no details leave."""
    return error_response(500, "Something went wrong.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)

"""FastAPI exception handlers: every error leaves as an RFC 9457 problem (see problems.py).

Unexpected exceptions are not handled here: they reach RequestContextMiddleware, which logs them
once with their traceback and answers a generic 500.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from .dberrors import is_database_unavailable, is_unique_violation
from .problems import (
    DATABASE_UNAVAILABLE,
    INVALID_REQUEST,
    NOT_JSON,
    PROBLEM_CONTENT_TYPE,
    UNIQUE_CONFLICT,
    encode,
    field_errors,
    problem,
    report_database_outage,
)


def problem_response(
    request: Request,
    status: int,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body = problem(status, detail, instance=request.url.path, **extensions)
    return Response(encode(body), status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


# FastAPI's own 400 for a body its JSON parser fails on other than by a syntax error: bytes that
# are not UTF-8, nesting too deep, an integer too long. Not valid JSON all the same.
_BODY_PARSE_ERROR = "There was an error parsing the body"


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
        return problem_response(request, 400, NOT_JSON)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(request, exc.status_code, detail, headers=exc.headers)


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    # A body that is not JSON at all is a malformed request (400), not an invalid one (422).
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem_response(request, 400, NOT_JSON)
    return problem_response(request, 422, INVALID_REQUEST, errors=field_errors(errors))


async def integrity_error(request: Request, exc: IntegrityError) -> Response:
    if is_unique_violation(exc):
        return problem_response(request, 409, UNIQUE_CONFLICT)
    raise exc  # any other constraint failure is a bug: let the middleware log it as a 500


async def database_unavailable(request: Request, exc: Exception) -> Response:
    report_database_outage(exc)  # an outage, not a bug: a retryable 503
    return problem_response(request, 503, DATABASE_UNAVAILABLE)


async def database_error(request: Request, exc: Exception) -> Response:
    # asyncpg's refusals to connect (no such database, too many connections...) come as
    # plain DBAPIErrors: an outage all the same. Any other is a bug.
    if is_database_unavailable(exc):
        return await database_unavailable(request, exc)
    raise exc


def register_error_handlers(app: FastAPI) -> None:
    # Handlers receive the exception class they are registered for.
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(IntegrityError, integrity_error)
    app.add_exception_handler(DBAPIError, database_error)
    # SQLAlchemy's connection errors, and the driver's own when it cannot even connect
    # (asyncpg raises ConnectionRefusedError as is).
    for error in (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError):
        app.add_exception_handler(error, database_unavailable)

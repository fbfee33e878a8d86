"""FastAPI exception handlers: every error leaves as an RFC 9457 problem (see problems.py).

Unexpected exceptions are not handled here: they reach RequestContextMiddleware, which logs them
once with their traceback and answers a generic 500.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException

from .dberrors import is_unique_violation
from .problems import PROBLEM_CONTENT_TYPE, encode, field_errors, problem


def problem_response(
    request: Request,
    status: int,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body = problem(status, detail, instance=request.url.path, **extensions)
    return Response(encode(body), status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


async def http_error(request: Request, exc: HTTPException) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(request, exc.status_code, detail, headers=exc.headers)


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    # A body that is not JSON at all is a malformed request (400), not an invalid one (422).
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem_response(request, 400, "The request body is not valid JSON.")
    return problem_response(request, 422, "The request is invalid.", errors=field_errors(errors))


async def integrity_error(request: Request, exc: IntegrityError) -> Response:
    if is_unique_violation(exc):
        return problem_response(
            request, 409, "A resource with the same unique value already exists."
        )
    raise exc  # any other constraint failure is a bug: let the middleware log it as a 500


def register_error_handlers(app: FastAPI) -> None:
    # Handlers receive the exception class they are registered for.
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(IntegrityError, integrity_error)

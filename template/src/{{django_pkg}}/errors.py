"""Django and django-ninja errors as RFC 9457 problems (the bodies are built in problems.py).

Unexpected exceptions go through Django's own handling: the `django.request` logger records
them with their traceback, then `server_error` answers a generic 500.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from .dberrors import is_unique_violation
from .problems import (
    DATABASE_UNAVAILABLE,
    INVALID_REQUEST,
    JSON_REQUIRED,
    NOT_JSON,
    PROBLEM_CONTENT_TYPE,
    SERVER_ERROR,
    UNIQUE_CONFLICT,
    encode,
    field_errors,
    problem,
    report_database_outage,
)


def problem_response(
    request: HttpRequest, status: int, detail: str | None = None, **extensions: Any
) -> HttpResponse:
    body = problem(status, detail, instance=request.path, **extensions)
    return HttpResponse(encode(body), status=status, content_type=PROBLEM_CONTENT_TYPE)


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        location = list(error.get("loc") or ("body",))
        if location[:1] == ["body"] and len(location) > 1:
            del location[1]  # ninja adds the view's parameter name after "body"
        errors.append({**error, "loc": location})
    return problem_response(request, 422, INVALID_REQUEST, errors=field_errors(errors))


class UnsupportedMediaTypeError(ValueError):
    """A request body declared as something other than JSON (see api.JSONParser)."""


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja reports any failure to parse a body as a 400 whose cause is the parser's error.
    if isinstance(exc.__cause__, UnsupportedMediaTypeError):
        return problem_response(request, 415, JSON_REQUIRED)
    if exc.status_code == 400 and exc.__cause__ is not None:
        return problem_response(request, 400, NOT_JSON)
    return problem_response(request, exc.status_code, exc.message)


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, 404, str(exc) or None)


def _integrity_error(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    if is_unique_violation(exc):
        return problem_response(request, 409, UNIQUE_CONFLICT)
    raise exc  # any other constraint failure is a bug: Django logs it and answers 500


def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    report_database_outage(exc)  # an outage, not a bug: a retryable 503
    return problem_response(request, 503, DATABASE_UNAVAILABLE)


def register_error_handlers(api: NinjaAPI) -> None:
    api.add_exception_handler(ValidationError, _validation_error)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(IntegrityError, _integrity_error)
    api.add_exception_handler(OperationalError, _database_unavailable)
    api.add_exception_handler(InterfaceError, _database_unavailable)


# Django's handler400/403/404/500 views (config/urls.py).


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return problem_response(request, 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return problem_response(request, 403)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return problem_response(request, 404, "There is no resource at this path.")


def server_error(request: HttpRequest) -> HttpResponse:
    return problem_response(request, 500, SERVER_ERROR)


class ProblemResponseMiddleware:
    """Turns error responses that are not problems yet (ninja's 405, for one) into problems."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        if response.status_code < 400 or response.get("Content-Type") == PROBLEM_CONTENT_TYPE:
            return response
        replacement = problem_response(request, response.status_code)
        if "Allow" in response:
            replacement["Allow"] = response["Allow"]
        return replacement

"""RFC 9457 problem details and request ids: the error format every response shares.

Framework code only decides *which* problem to answer; the body, its media type and the request
id it carries are built here, so every error of the service looks the same to a client.
"""

import json
import re
import secrets
from http import HTTPStatus
from typing import Any

import structlog

PROBLEM_CONTENT_TYPE = "application/problem+json"

# The `detail` of the problems both frameworks answer: the contract wants them identical.
BODY_TOO_SLOW = "The request body did not arrive in time."
DATABASE_UNAVAILABLE = "The database is unavailable."
EXPORTS_BUSY = "Too many exports are streaming at once: retry later."
HOST_NOT_ALLOWED = "The Host header names a host this service does not serve."
INVALID_REQUEST = "The request is invalid."
JSON_REQUIRED = "The request body must be application/json."
NOT_JSON = "The request body is not valid JSON."
RATE_LIMITED = "Too many requests from this client: retry after the Retry-After seconds."
SERVER_ERROR = "The server could not complete the request."
UNIQUE_CONFLICT = "A resource with the same unique value already exists."
REQUEST_ID_HEADER = "X-Request-ID"

# A client may pass its own request id (to trace a call across services); anything that is not
# a short token of safe characters is replaced, never reflected.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_logger = structlog.get_logger(__name__)


def new_request_id() -> str:
    """32 random hex digits: a UUID4's randomness, without building a UUID for every request."""
    return secrets.token_hex(16)


def valid_request_id(value: str | None) -> str | None:
    """`value` if it is an acceptable request id, else None."""
    if value is not None and _REQUEST_ID_RE.fullmatch(value):
        return value
    return None


def report_database_outage(error: BaseException) -> None:
    """Log a database outage: a warning without traceback, as it is not a bug and repeats
    (every probe and request while the database is down)."""
    _logger.warning("database_unavailable", error=f"{type(error).__name__}: {error}")


def current_request_id() -> str | None:
    """The id bound to the request being served, if any."""
    return structlog.contextvars.get_contextvars().get("request_id")


def problem(
    status: int,
    detail: str | None = None,
    *,
    instance: str | None = None,
    title: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """The body of a problem response (`type` is `about:blank`: the status says it all)."""
    phrase = HTTPStatus(status).phrase
    return {
        "type": "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
        "instance": instance,
        "request_id": current_request_id(),
        **extensions,
    }


def encode(body: dict[str, Any]) -> bytes:
    """Serialize a problem. ASCII escapes keep any string, even a lone surrogate, encodable."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# The JSON Schema of a problem body, for the OpenAPI document (see document_problems).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: every error response of the service.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": ["string", "null"]},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "description": "Per-field errors of a 422.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["location", "field", "message", "type"],
                "properties": {
                    "location": {"type": "string"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Declare the problem responses in an OpenAPI document, whichever framework made it.

    Every operation answers errors as `application/problem+json` (4XX and 5XX); error
    responses the framework documented in its own format (a 422's, say) are replaced.
    """
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in openapi.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if responses is None:
                continue
            for status, response in responses.items():
                if str(status)[0] in "45":
                    response["content"] = content
            responses.setdefault("4XX", {"description": "Client error", "content": content})
            responses.setdefault("5XX", {"description": "Server error", "content": content})
    return openapi


def field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic-style errors as the contract's per-field list (never echoing the input)."""
    result = []
    for error in errors:
        location, *path = error.get("loc") or ("body",)
        result.append(
            {
                "location": str(location),
                "field": ".".join(str(part) for part in path),
                "message": error.get("msg", "Invalid value"),
                "type": error.get("type", "value_error"),
            }
        )
    return result


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a Content-Type header declares JSON (`application/json`, parameters allowed)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"

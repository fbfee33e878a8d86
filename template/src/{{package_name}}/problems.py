"""RFC 9457 problem details and request ids: the error format every response shares.

Framework code only decides *which* problem to answer; the body, its media type and the request
id it carries are built here, so every error of the service looks the same to a client.
"""

import json
import re
import uuid
from http import HTTPStatus
from typing import Any

import structlog

PROBLEM_CONTENT_TYPE = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-ID"

# A client may pass its own request id (to trace a call across services); anything that is not
# a short token of safe characters is replaced, never reflected.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def valid_request_id(value: str | None) -> str | None:
    """`value` if it is an acceptable request id, else None."""
    if value is not None and _REQUEST_ID_RE.fullmatch(value):
        return value
    return None


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

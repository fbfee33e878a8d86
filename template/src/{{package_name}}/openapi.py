"""One OpenAPI document for both frameworks: what the service serves at /openapi.json.

FastAPI and django-ninja each build a document of their own; `finish()` gives both the same
shape, so that a client generated from either fits the service whichever framework serves it:

- an operation's id is the name of its route function (`create_item`, `health_live`): the app
  (FastAPI's `generate_unique_id_function`, ninja's `get_openapi_operation_id`) names it so;
- a success response the route did not describe is named by its status phrase (`OK`);
- errors are the problems they are (`document_problems`): no 422 in the framework's own format,
  nor the schemas of that format;
- bodies streamed as NDJSON say what each line is (`ndjson.ndjson_content`).
"""

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from .problems import document_problems

# What FastAPI adds to every operation that validates its input: a 422 in its own format, of
# this schema (which lists ValidationError objects), and its default success description.
_VALIDATION_REF = {"$ref": "#/components/schemas/HTTPValidationError"}
_FASTAPI_SUCCESS = "Successful Response"


def operation_id(function: Callable[..., Any]) -> str:
    """The rule for every operation, the user's own too: the name of its route function."""
    return function.__name__


def finish(openapi: dict[str, Any]) -> dict[str, Any]:
    """The framework's document as the service serves it (the same on both frameworks)."""
    for path_item in openapi.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if not operation.get("parameters", True):
                del operation["parameters"]  # ninja lists none as []
            responses = operation["responses"]
            for status, response in list(responses.items()):
                if _is_validation_error(response):
                    del responses[status]
                elif str(status).isdigit() and response.get("description") == _FASTAPI_SUCCESS:
                    response["description"] = HTTPStatus(int(status)).phrase
    schemas = openapi.get("components", {}).get("schemas", {})
    if schemas.pop("HTTPValidationError", None) is not None:
        schemas.pop("ValidationError", None)
    if not openapi.get("servers", True):
        del openapi["servers"]  # ninja lists none as []
    return document_problems(openapi)


def _is_validation_error(response: dict[str, Any]) -> bool:
    schemas = [media.get("schema", {}) for media in response.get("content", {}).values()]
    return _VALIDATION_REF in schemas

"""docs/contract.md, checked over HTTP against every variant with the same assertions."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
from deploy import MAX_BODY_SIZE

from harness import Server

pytestmark = pytest.mark.contract

PROBLEM = "application/problem+json"
ITEM_KEYS = {"id", "name", "description", "created_at", "updated_at"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def unique(prefix: str = "item") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance", "request_id"}
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def assert_item(item: dict) -> None:
    assert set(item) == ITEM_KEYS
    assert isinstance(item["id"], int)
    assert TIMESTAMP.fullmatch(item["created_at"]), item["created_at"]
    assert TIMESTAMP.fullmatch(item["updated_at"]), item["updated_at"]


def test_health(http: httpx.Client) -> None:
    live = http.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert live.headers["content-type"] == "application/json"
    ready = http.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok"})
    assert re.fullmatch(r"[0-9a-f]{32}", live.headers["x-request-id"])


def test_item_lifecycle(http: httpx.Client) -> None:
    name = unique()
    created = http.post("/api/v1/items", json={"name": name, "description": "first"})
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json"
    item = created.json()
    assert_item(item)
    assert (item["name"], item["description"]) == (name, "first")
    assert created.headers["location"] == f"/api/v1/items/{item['id']}"

    read = http.get(created.headers["location"])
    assert (read.status_code, read.json()) == (200, item)

    patched = http.patch(f"/api/v1/items/{item['id']}", json={"description": None})
    assert patched.status_code == 200
    assert_item(patched.json())
    assert (patched.json()["name"], patched.json()["description"]) == (name, None)
    assert patched.json()["updated_at"] >= item["updated_at"]

    deleted = http.delete(f"/api/v1/items/{item['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    body = assert_problem(http.get(f"/api/v1/items/{item['id']}"), 404)
    assert body["instance"] == f"/api/v1/items/{item['id']}"


def test_list_shape_and_pagination(http: httpx.Client) -> None:
    for _ in range(3):
        assert http.post("/api/v1/items", json={"name": unique("page")}).status_code == 201
    page = http.get("/api/v1/items", params={"limit": 2, "offset": 1})
    assert page.status_code == 200
    body = page.json()
    assert set(body) == {"items", "total", "limit", "offset"}
    assert (body["limit"], body["offset"]) == (2, 1)
    assert len(body["items"]) == 2
    assert body["total"] >= 3
    for item in body["items"]:
        assert_item(item)
    ids = [item["id"] for item in body["items"]]
    assert ids == sorted(ids)
    default = http.get("/api/v1/items").json()
    assert (default["limit"], default["offset"]) == (50, 0)


def test_duplicate_name_is_409(http: httpx.Client) -> None:
    name = unique()
    assert http.post("/api/v1/items", json={"name": name}).status_code == 201
    assert_problem(http.post("/api/v1/items", json={"name": name}), 409)


def test_validation_errors_are_per_field(http: httpx.Client) -> None:
    body = assert_problem(http.post("/api/v1/items", json={"name": "", "colour": "red"}), 422)
    fields = {(error["location"], error["field"], error["type"]) for error in body["errors"]}
    assert ("body", "name", "string_too_short") in fields
    assert ("body", "colour", "extra_forbidden") in fields
    for error in body["errors"]:
        assert set(error) == {"location", "field", "message", "type"}


JSON = {"content-type": "application/json"}
BAD_INPUT = [
    # (id, method, path, headers, body, status)
    ("malformed JSON", "POST", "/api/v1/items", JSON, b'{"name": ', 400),
    ("not JSON at all", "POST", "/api/v1/items", JSON, b"name=widget", 400),
    ("empty body", "POST", "/api/v1/items", JSON, b"", 422),
    (
        "wrong content type",
        "POST",
        "/api/v1/items",
        {"content-type": "text/plain"},
        b'{"name": "x"}',
        415,
    ),
    ("no content type", "POST", "/api/v1/items", {}, b'{"name": "x"}', 415),
    (
        "form content type",
        "PATCH",
        "/api/v1/items/1",
        {"content-type": "application/x-www-form-urlencoded"},
        b"name=x",
        415,
    ),
    ("array body", "POST", "/api/v1/items", JSON, b"[]", 422),
    ("null body", "POST", "/api/v1/items", JSON, b"null", 422),
    ("string body", "POST", "/api/v1/items", JSON, b'"widget"', 422),
    ("name of wrong type", "POST", "/api/v1/items", JSON, b'{"name": 42}', 422),
    (
        "description of wrong type",
        "POST",
        "/api/v1/items",
        JSON,
        b'{"name": "x", "description": {}}',
        422,
    ),
    (
        "name of 100,000 characters",
        "POST",
        "/api/v1/items",
        JSON,
        b'{"name": "' + b"x" * 100_000 + b'"}',
        422,
    ),
    ("empty name", "POST", "/api/v1/items", JSON, b'{"name": ""}', 422),
    ("NUL in a string", "POST", "/api/v1/items", JSON, b'{"name": "a\\u0000b"}', 422),
    ("lone surrogate", "POST", "/api/v1/items", JSON, b'{"name": "\\ud800"}', 422),
    ("invalid UTF-8", "POST", "/api/v1/items", JSON, b'{"name": "\xff\xfe\xfd"}', 400),
    ("deeply nested JSON", "POST", "/api/v1/items", JSON, b"[" * 50_000 + b"]" * 50_000, 400),
    (
        "number with 5,000 digits",
        "POST",
        "/api/v1/items",
        JSON,
        b'{"name": ' + b"9" * 5000 + b"}",
        400,
    ),
    ("null name on update", "PATCH", "/api/v1/items/1", JSON, b'{"name": null}', 422),
    ("non-numeric id", "GET", "/api/v1/items/abc", {}, b"", 422),
    ("negative id", "GET", "/api/v1/items/-1", {}, b"", 422),
    ("zero id", "GET", "/api/v1/items/0", {}, b"", 422),
    ("fractional id", "GET", "/api/v1/items/1.5", {}, b"", 422),
    ("huge id", "GET", "/api/v1/items/" + "9" * 30, {}, b"", 422),
    ("id beyond 64 bits", "DELETE", "/api/v1/items/9223372036854775808", {}, b"", 422),
    ("limit zero", "GET", "/api/v1/items?limit=0", {}, b"", 422),
    ("limit too large", "GET", "/api/v1/items?limit=101", {}, b"", 422),
    ("negative offset", "GET", "/api/v1/items?offset=-1", {}, b"", 422),
    ("non-numeric limit", "GET", "/api/v1/items?limit=ten", {}, b"", 422),
    ("unknown route", "GET", "/api/v1/nothing-here", {}, b"", 404),
    ("unknown root route", "GET", "/wp-admin.php", {}, b"", 404),
    ("absent item", "GET", "/api/v1/items/9223372036854775807", {}, b"", 404),
    ("wrong method on a collection", "PUT", "/api/v1/items", JSON, b"{}", 405),
    ("wrong method on health", "POST", "/health/live", {}, b"", 405),
    (
        "body over the limit",
        "POST",
        "/api/v1/items",
        JSON,
        b'{"name": "' + b"x" * MAX_BODY_SIZE + b'"}',
        413,
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_a_4xx_problem(
    http: httpx.Client, method: str, path: str, headers: dict, body: bytes, status: int
) -> None:
    response = http.request(method, path, headers=headers, content=body)
    assert_problem(response, status)
    assert http.get("/health/live").status_code == 200  # and the service is still up


def test_streamed_body_over_the_limit_is_413(http: httpx.Client) -> None:
    def chunks():  # no Content-Length: the limit applies as the body arrives
        yield b'{"name": "'
        for _ in range(MAX_BODY_SIZE // 8192 + 2):
            yield b"x" * 8192
        yield b'"}'

    assert_problem(http.post("/api/v1/items", content=chunks(), headers=JSON), 413)
    assert http.get("/health/live").status_code == 200


@pytest.mark.parametrize(
    "text",
    [
        "Robert'); DROP TABLE items;--",
        "' OR '1'='1",
        "1; SELECT pg_sleep(10)",
        '"; DELETE FROM items WHERE "" = "',
        "%' AND 1=1 --",
        "ünïcödé ✓ 中文 🎉",
    ],
)
def test_strings_are_stored_verbatim(http: httpx.Client, text: str) -> None:
    name = f"{text} {uuid.uuid4().hex[:6]}"
    created = http.post("/api/v1/items", json={"name": name, "description": text})
    assert created.status_code == 201
    read = http.get(created.headers["location"]).json()
    assert (read["name"], read["description"]) == (name, text)


def test_valid_request_id_is_echoed(http: httpx.Client) -> None:
    for request_id in ("abc", "trace-42.span:7_x", "A" * 128):
        response = http.get("/health/live", headers={"X-Request-ID": request_id})
        assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id", ["", "a b", "<script>alert(1)</script>", "x" * 129, "ü", "../etc/passwd"]
)
def test_invalid_request_id_is_replaced_never_reflected(
    http: httpx.Client, request_id: str
) -> None:
    response = http.get("/api/v1/nothing", headers={"X-Request-ID": request_id.encode()})
    replaced = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert request_id not in response.text or request_id == ""
    assert response.json()["request_id"] == replaced


def test_openapi_schema(http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    paths = response.json()["paths"]
    assert {"/health/live", "/health/ready", "/api/v1/items", "/api/v1/items/{item_id}"} <= set(
        paths
    )
    assert set(paths["/api/v1/items/{item_id}"]) >= {"get", "patch", "delete"}
    assert http.get("/docs").status_code == 200


def test_logs_are_json_lines_with_request_ids(http: httpx.Client, service: Server) -> None:
    marker = f"logcheck-{uuid.uuid4().hex[:8]}"
    http.get("/health/live", headers={"X-Request-ID": marker})
    http.post("/api/v1/items", headers={"X-Request-ID": marker + "-2"}, json={"name": ""})
    records = _records_when(
        service, lambda rs: any(r.get("request_id") == marker + "-2" for r in rs)
    )
    access = [r for r in records if r.get("event") == "request"]
    assert {(r["request_id"], r["path"], r["status"]) for r in access} >= {
        (marker, "/health/live", 200),
        (marker + "-2", "/api/v1/items", 422),
    }
    for record in records:
        assert {"event", "level", "timestamp"} <= set(record)
        if "path" in record or "method" in record:  # a line about a request carries its id
            assert record.get("request_id"), record
    # One access line per request.
    assert sum(1 for r in access if r["request_id"] == marker) == 1


def _records_when(service: Server, done, timeout: float = 5.0) -> list[dict]:
    """The service's records, once `done(records)` holds (logs may trail the response)."""
    deadline = time.monotonic() + timeout
    while True:
        records = service.records()
        if done(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)

"""Every error is an RFC 9457 problem carrying the request id; nothing leaks on a 500."""

import re

import httpx
import pytest
from httpx import AsyncClient

PROBLEM = "application/problem+json"
MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route_is_404(client: AsyncClient) -> None:
    body = assert_problem(await client.get("/no/such/route"), 404)
    assert body["instance"] == "/no/such/route"
    assert set(body) == MEMBERS


async def test_a_host_not_served_is_400(client: AsyncClient) -> None:
    response = await client.get("/no/such/route", headers={"Host": "evil.example"})
    body = assert_problem(response, 400)
    assert body["detail"] == "The Host header names a host this service does not serve."
    assert body["instance"] == "/no/such/route"
    # An allowed host, with or without a port, is served; health probes answer any host.
    assert (await client.get("/health/live", headers={"Host": "localhost:8000"})).status_code == 200
    assert (await client.get("/health/live", headers={"Host": "10.1.2.3:8000"})).status_code == 200


@pytest.mark.parametrize("path", ["/health/live", "/no/such/route"])
async def test_every_response_carries_the_security_headers(client: AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers  # plain HTTP: no HSTS
    # Data: nothing in it may load or run, and no page may frame it.
    policy = response.headers["content-security-policy"]
    assert policy == "default-src 'none'; frame-ancestors 'none'"


async def test_the_docs_page_loads_its_files_from_the_service(client: AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline';" in policy
    assert "frame-ancestors 'none'" in policy
    # Every script and stylesheet of the page is served here: no CDN, no other host.
    files = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
    assert files
    for url in files:
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000


async def test_wrong_method_is_405(client: AsyncClient) -> None:
    response = await client.delete("/health/live")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


async def test_oversized_body_is_413_by_content_length(
    client: AsyncClient, max_body_size: int
) -> None:
    response = await client.post("/health/live", content=b"x" * (max_body_size + 1))
    body = assert_problem(response, 413)
    assert body["instance"] == "/health/live"
    assert (await client.get("/health/live")).status_code == 200  # still up


async def test_oversized_streamed_body_is_413(
    client: AsyncClient, max_body_size: int, body_size_path: str
) -> None:
    async def chunks():  # no Content-Length: the limit applies while the body streams in
        for _ in range(max_body_size // 65536 + 2):
            yield b"x" * 65536

    body = assert_problem(await client.post(body_size_path, content=chunks()), 413)
    assert body["instance"] == body_size_path
    response = await client.post(body_size_path, content=b"x" * max_body_size)
    assert response.json() == max_body_size


async def test_unhandled_exception_is_a_generic_500(client: AsyncClient, failing_path: str) -> None:
    response = await client.get(failing_path)
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert body == {  # these members and no other: nothing of the exception
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The server could not complete the request.",
        "instance": failing_path,
        "request_id": response.headers["x-request-id"],
    }


async def test_request_id_is_generated(client: AsyncClient) -> None:
    first = (await client.get("/health/live")).headers["x-request-id"]
    second = (await client.get("/health/live")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


async def test_valid_request_id_is_echoed(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "trace-42.a:b_c"})
    assert response.headers["x-request-id"] == "trace-42.a:b_c"


@pytest.mark.parametrize(
    "incoming",
    ["", "has space", "<script>", "a" * 129, "ünïcode", "-leading-dash"],
)
async def test_invalid_request_id_is_replaced(client: AsyncClient, incoming: str) -> None:
    response = await client.get(
        "/no/such/route", headers={"X-Request-ID": incoming.encode("utf-8")}
    )
    request_id = response.headers["x-request-id"]
    assert request_id != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response.json()["request_id"] == request_id


async def test_openapi_schema(client: AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert "/health/ready" in response.json()["paths"]

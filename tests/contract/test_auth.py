"""Bearer-token authentication (auth=oidc), attacked over real sockets: the served service (its
production command, granian) and its identity provider's stand-in (tests/idp.py) in processes
of their own, as docs/contract.md describes them, for both frameworks (their own suites run
every case in process too)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import harness
from harness import Server, Variant, run

# The oidc variants of the build tier: installed once, shared with it (same worker).
VARIANTS = [
    Variant(framework="fastapi", auth="oidc", python_version="3.12"),
    Variant(framework="django", auth="oidc"),
]

pytestmark = pytest.mark.contract
ITEMS = "/api/v1/items"


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: v.framework)
def variant(request: pytest.FixtureRequest) -> Variant:
    return request.param


@pytest.fixture(scope="module")
def provider(variant: Variant) -> Iterator[dict[str, Any]]:
    with harness.identity_provider(harness.installed(variant)) as provider:
        yield provider


@pytest.fixture(scope="module")
def service(
    variant: Variant, provider: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    project = harness.installed(variant)
    logs = tmp_path_factory.mktemp(f"contract-auth-{variant.framework}")
    url = harness.database_url(variant.framework, "sqlite", logs / "db.sqlite3")
    env = {**harness.service_env(project, url, workers="1"), **provider["environment"]}
    run(project.path, project.bin("my-service"), "migrate", env=env)
    with harness.serve(project, env, logs / "serve.log").start() as server:
        yield server
    server.records()  # every line it wrote was JSON


def get(service: Server, token: str | None, method: str = "GET") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {"json": {"name": "x"}} if method == "POST" else {}
    return httpx.request(
        method, service.url + ITEMS, headers=headers, timeout=10, trust_env=False, **body
    )


def raw_status(service: Server, authorization: bytes) -> int:
    """The status of a GET whose Authorization header is exactly `authorization`, bytes that
    no HTTP library would send."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(
            b"GET " + ITEMS.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + authorization + b"\r\nConnection: close\r\n\r\n"
        )
        return int(sock.recv(4096).split(b" ", 2)[1])


def test_a_valid_token_reads_and_writes(service: Server, provider: dict[str, Any]) -> None:
    tokens = provider["tokens"]
    assert get(service, tokens["valid"]).status_code == 200
    assert get(service, tokens["valid_ec"], "POST").status_code == 201


def test_no_token_gets_401_with_the_bearer_challenge(service: Server) -> None:
    response = get(service, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.headers["content-type"] == "application/problem+json"
    assert httpx.get(service.url + "/health/live", trust_env=False).status_code == 200


@pytest.mark.parametrize(
    "kind", ["expired", "wrong_audience", "alg_none", "hs256_public_key", "unknown_kid"]
)
def test_forged_or_stale_tokens_get_401_invalid_token(
    service: Server, provider: dict[str, Any], kind: str
) -> None:
    token = provider["tokens"][kind]
    response = get(service, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert token not in response.text
    assert token not in service.output()


def test_a_token_without_the_write_scope_gets_403(
    service: Server, provider: dict[str, Any]
) -> None:
    response = get(service, provider["tokens"]["read_only"], "POST")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_oversized_and_non_ascii_tokens_are_refused_not_crashed(service: Server) -> None:
    assert raw_status(service, b"a" * 10_240) == 401
    assert raw_status(service, "é.é.é".encode()) == 401
    assert raw_status(service, b"\xff\xfe.\x00") in {400, 401}  # NUL: the server may refuse it


def test_access_lines_carry_the_subject(service: Server, provider: dict[str, Any]) -> None:
    get(service, provider["tokens"]["valid"])
    access = [r for r in service.records() if r.get("event") == "request"]
    assert any(r.get("subject") == "user-42" for r in access)


def test_while_the_provider_is_down_cached_keys_work_and_unknown_ones_get_503(
    service: Server, provider: dict[str, Any]
) -> None:
    tokens = provider["tokens"]
    assert get(service, tokens["valid"]).status_code == 200  # the keys are cached
    provider["stop"]()
    assert get(service, tokens["valid"]).status_code == 200
    response = get(service, tokens["unknown_kid"])  # a key it cannot fetch
    assert response.status_code == 503
    assert json.loads(response.text)["status"] == 503
    assert "retry-after" in response.headers


def test_no_log_line_holds_a_token(service: Server, provider: dict[str, Any]) -> None:
    output = service.output()
    assert all(token not in output for token in provider["tokens"].values())


def test_rate_limits_count_each_subject_apart(
    variant: Variant, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two users from one address: each has a budget of its own (the subject is the key)."""
    project = harness.installed(variant)
    logs = tmp_path_factory.mktemp(f"contract-auth-limits-{variant.framework}")
    url = harness.database_url(variant.framework, "sqlite", logs / "db.sqlite3")
    # A provider of its own: the module's is taken down by another test.
    with harness.identity_provider(project) as provider:
        env = {
            **harness.service_env(project, url, workers="1", rate_limit="2/minute"),
            **provider["environment"],
        }
        run(project.path, project.bin("my-service"), "migrate", env=env)
        tokens = provider["tokens"]
        with harness.serve(project, env, logs / "serve.log").start() as server:
            statuses = [get(server, tokens["valid"]).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
            assert get(server, tokens["another_subject"]).status_code == 200
            # Without a token the request is refused before it is counted: 401, not 429.
            assert get(server, None).status_code == 401

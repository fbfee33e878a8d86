"""Concurrent clients: every write lands once, unique names hold, races never yield a 5xx."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
import pytest

from harness import Server

pytestmark = pytest.mark.contract

TIMEOUT = 120  # seconds for each burst, an upper bound rather than a target


async def burst(
    service: Server, requests: list[tuple[str, str, dict | None]]
) -> list[httpx.Response]:
    """Send all requests at once (one connection each) and return the responses in order."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=service.url, limits=limits, timeout=60, trust_env=False
    ) as client:
        calls = [client.request(method, path, json=body) for method, path, body in requests]
        return await asyncio.wait_for(asyncio.gather(*calls), TIMEOUT)


def test_200_concurrent_creates_all_land(service: Server) -> None:
    prefix = uuid.uuid4().hex[:8]
    names = [f"{prefix}-{n}" for n in range(200)]
    responses = asyncio.run(burst(service, [("POST", "/api/v1/items", {"name": n}) for n in names]))
    assert Counter(r.status_code for r in responses) == {201: 200}
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 200
    # Every one is readable afterwards, and the table holds them all.
    reads = asyncio.run(burst(service, [("GET", f"/api/v1/items/{i}", None) for i in ids]))
    assert sorted(r.json()["name"] for r in reads) == sorted(names)


def test_50_concurrent_creates_of_one_name_give_one_201(service: Server) -> None:
    name = f"contended-{uuid.uuid4().hex[:8]}"
    responses = asyncio.run(burst(service, [("POST", "/api/v1/items", {"name": name})] * 50))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 49}
    for response in responses:
        if response.status_code == 409:
            assert response.headers["content-type"] == "application/problem+json"


def test_concurrent_patch_and_delete_of_one_item_never_fail(service: Server) -> None:
    created = httpx.post(
        f"{service.url}/api/v1/items",
        json={"name": f"raced-{uuid.uuid4().hex[:8]}"},
        trust_env=False,
    )
    path = f"/api/v1/items/{created.json()['id']}"
    requests = []
    for n in range(20):
        requests += [
            ("PATCH", path, {"description": f"edit {n}"}),
            ("DELETE", path, None),
            ("GET", path, None),
        ]
    responses = asyncio.run(burst(service, requests))
    statuses = Counter(r.status_code for r in responses)
    assert all(status < 500 for status in statuses), statuses
    assert set(statuses) <= {200, 204, 404}
    assert statuses[204] == 1  # exactly one delete wins
    assert httpx.get(f"{service.url}{path}", trust_env=False).status_code == 404

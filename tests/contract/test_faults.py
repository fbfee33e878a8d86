"""Operational faults: the database goes away and comes back; SIGTERM during writes."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
from deploy import SHUTDOWN_TIMEOUT, Deployment

from harness import Server

pytestmark = pytest.mark.contract


def test_readiness_follows_the_database_without_a_restart(
    service: Server, deployment: Deployment
) -> None:
    ready = f"{service.url}/health/ready"
    assert httpx.get(ready, trust_env=False).status_code == 200
    deployment.take_down()
    try:
        deadline = time.monotonic() + 30
        while (down := httpx.get(ready, timeout=30, trust_env=False)).status_code != 503:
            assert time.monotonic() < deadline, "readiness never reported the outage"
            time.sleep(0.2)
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["status"] == 503
        live = httpx.get(f"{service.url}/health/live", trust_env=False)
        assert live.status_code == 200  # alive, only not ready
        # Requests that need the database get a retryable 503 problem, not a 500.
        items = httpx.get(f"{service.url}/api/v1/items", timeout=30, trust_env=False)
        assert items.status_code == 503, service.output()[-3000:]
        assert items.json()["detail"] == "The database is unavailable."
    finally:
        deployment.bring_back()
    # Recovered means every worker serves again: 20 answers in a row from the database.
    deadline = time.monotonic() + 30
    in_a_row = 0
    while in_a_row < 20:
        assert time.monotonic() < deadline, "the service did not recover within 30 s"
        items = httpx.get(f"{service.url}/api/v1/items", timeout=30, trust_env=False)
        in_a_row = in_a_row + 1 if items.status_code == 200 else 0
        if not in_a_row:
            time.sleep(0.2)
    assert httpx.get(ready, trust_env=False).status_code == 200
    assert service.process is not None
    assert service.process.poll() is None  # the same process throughout


def test_sigterm_during_writes_loses_no_acknowledged_write(deployment: Deployment) -> None:
    service = deployment.service(f"shutdown-{uuid.uuid4().hex[:6]}").start()
    acknowledged: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        with httpx.Client(base_url=service.url, timeout=30, trust_env=False) as client:
            for n in range(10_000):  # bounded; in practice the shutdown ends the loop
                if stop.is_set():
                    return
                try:
                    response = client.post(
                        "/api/v1/items", json={"name": f"w{worker}-{n}-{uuid.uuid4().hex[:6]}"}
                    )
                except httpx.TransportError:
                    return  # the server is gone: no acknowledgement, nothing to check
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])
                elif response.status_code >= 500:
                    failures.append(response.text)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # a steady stream of writes is under way
    started = time.monotonic()
    status = service.stop(timeout=SHUTDOWN_TIMEOUT + 10)
    elapsed = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    assert status == 0
    assert elapsed < SHUTDOWN_TIMEOUT + 5
    assert failures == []
    assert acknowledged, "no write was acknowledged before the shutdown"
    missing = set(acknowledged) - deployment.database.item_ids()
    assert missing == set(), f"{len(missing)} acknowledged writes are not in the database"
    service.records()  # its output, shutdown included, is JSON lines

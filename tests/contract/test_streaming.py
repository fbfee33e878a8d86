"""The NDJSON export streams from a database cursor: flat memory, clean cancellation."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from deploy import SHUTDOWN_TIMEOUT, Deployment

import harness
from harness import Server

pytestmark = pytest.mark.contract

ROWS = 100_000
MEMORY_BOUND = 50 * 1024 * 1024  # bytes of peak RSS growth allowed for the whole export


def ndjson_lines(response: httpx.Response) -> Iterator[bytes]:
    """The records of an NDJSON stream. Only "\\n" separates them: a name may well contain
    U+2028 or U+0085, which `iter_lines()` would also split on."""
    pending = b""
    for chunk in response.iter_bytes():
        *lines, pending = (pending + chunk).split(b"\n")
        yield from lines
    assert pending == b"", "the stream ended in the middle of a record"


def worker_peak_rss(service: Server) -> int:
    """Peak resident memory (VmHWM, bytes) of the service's single worker process."""
    assert service.process is not None
    [worker] = harness.children(service.process.pid)
    return harness.proc_status(worker, "VmHWM")


def seed(deployment: Deployment, rows: int) -> None:
    tag = uuid.uuid4().hex[:8]
    deployment.database.seed_items(1, rows, name=f"bulk-{tag}-", description="row ")


def test_export_of_100k_rows_keeps_memory_flat(deployment: Deployment) -> None:
    seed(deployment, ROWS)
    service = deployment.service(f"export-{uuid.uuid4().hex[:6]}", workers="1").start()
    exported: list[int] = []
    try:
        # Unicode line breaks other than "\n" stay inside their record.
        odd = httpx.post(
            f"{service.url}/api/v1/items",
            json={"name": f"line\u2028break\x85next\r{uuid.uuid4().hex[:6]}"},
            trust_env=False,
        )
        assert odd.status_code == 201
        before = deployment.database.item_ids()
        assert len(before) > ROWS
        rss_before = worker_peak_rss(service)
        with httpx.stream(
            "GET", f"{service.url}/api/v1/items/export", timeout=120, trust_env=False
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-ndjson"
            for line in ndjson_lines(response):
                item = json.loads(line)
                assert set(item) == {"id", "name", "description", "created_at", "updated_at"}
                exported.append(item["id"])
        growth = worker_peak_rss(service) - rss_before
    finally:
        assert service.stop(SHUTDOWN_TIMEOUT + 10) == 0
    print(f"export of {len(exported)} rows: peak RSS +{growth / 2**20:.1f} MiB")  # with -s
    # Every row, once, in id order (rows written meanwhile by other clients may be included).
    assert exported == sorted(set(exported))
    assert before <= set(exported) <= deployment.database.item_ids()
    assert growth < MEMORY_BOUND, f"peak RSS grew by {growth / 2**20:.1f} MiB"


def test_a_client_can_cancel_mid_stream(service: Server, deployment: Deployment) -> None:
    if len(deployment.database.item_ids()) < 5000:
        seed(deployment, 5000)
    with httpx.stream(
        "GET", f"{service.url}/api/v1/items/export", timeout=60, trust_env=False
    ) as response:
        for n, _ in enumerate(ndjson_lines(response)):
            if n == 10:
                break  # the client goes away with most of the export unread
    # Nothing is left behind: no open transaction, and the service answers as before.
    deadline = time.monotonic() + 10
    while deployment.database.idle_transactions():
        assert time.monotonic() < deadline, "the cancelled export left a transaction open"
        time.sleep(0.2)
    assert httpx.get(f"{service.url}/health/ready", trust_env=False).status_code == 200
    assert httpx.get(f"{service.url}/api/v1/items", trust_env=False).status_code == 200

"""Build tier: a rendered service installs, migrates, passes its own tests and serves for real."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

import harness
from harness import BUILD_VARIANTS, Variant, run, uv

pytestmark = pytest.mark.build


def request(
    method: str, url: str, body: dict | None = None, token: str | None = None
) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def check_events(base: str, clients: int) -> None:
    """Every client connected to /ws/items hears of a write, whichever worker serves it."""
    with contextlib.ExitStack() as stack:
        url = base.replace("http://", "ws://") + "/ws/items"
        feeds = [stack.enter_context(connect(url)) for _ in range(clients)]
        status, headers, body = request("POST", f"{base}/api/v1/items", {"name": "announced"})
        assert status == 201, body
        expected = {
            "event": "item.created",
            "item": json.loads(body),
            "request_id": headers["x-request-id"],
        }
        for feed in feeds:
            message = json.loads(feed.recv(timeout=10))
            while message["event"] == "heartbeat":
                message = json.loads(feed.recv(timeout=10))
            assert message == expected


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture(params=BUILD_VARIANTS, ids=lambda v: v.id)
def variant(request: pytest.FixtureRequest) -> Variant:
    return request.param


@pytest.fixture
def database_url(variant: Variant, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database the served process uses: a new PostgreSQL database, or a SQLite file."""
    if variant.database == "postgresql":
        name = request.getfixturevalue("postgres_database")
        return harness.database_url(variant.framework, "postgresql", name)
    return harness.database_url(variant.framework, "sqlite", tmp_path / "served.sqlite3")


def test_service_builds_tests_and_serves(
    variant: Variant, database_url: str, tmp_path: Path, stack: contextlib.ExitStack
) -> None:
    project = harness.installed(variant)  # rendered, post-copy task run, `uv sync --locked`
    env = project.env

    # The generated suite, against a real database (PostgreSQL: it makes its own database on
    # the server that DATABASE_URL names).
    test_env = dict(env)
    if variant.database == "postgresql":
        test_env["DATABASE_URL"] = database_url
    tests = run(
        project.path,
        *(uv(), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"),
        env=test_env,
    )
    assert " passed" in tests.stdout, tests.stdout
    assert " failed" not in tests.stdout, tests.stdout
    assert "to run in parallel" not in tests.stdout  # pytest-run-parallel, unasked for

    # Migrate and serve with the project's own commands, configured like production.
    workers = 1 if variant.realtime and variant.broker == "memory" else 2
    # Two workers; one with in-memory events, which reach the clients of one process only.
    service_env = harness.service_env(project, database_url, workers=str(workers))
    token = None
    if variant.auth == "oidc":  # the project's IdP stand-in, its keys served over HTTP
        provider = stack.enter_context(harness.identity_provider(project))
        service_env |= provider["environment"]
        token = provider["tokens"]["valid"]
    migrated = run(project.path, project.bin("my-service"), "migrate", env=service_env)
    records = [json.loads(line) for line in migrated.stdout.splitlines()]
    assert not [r for r in records if r["logger"] == "alembic.runtime.plugins"]  # noise
    # Nothing left to migrate, and no pool thread to wait for at exit (Django's PostgreSQL
    # pool held migrate 5 s per thread, 21 s in all; about 2 s now on an idle machine).
    again = run(project.path, project.bin("my-service"), "migrate", env=service_env)
    assert "couldn't stop thread" not in again.stdout + again.stderr

    if variant.framework == "django":
        python = project.bin("python")
        check = ("makemigrations", "--check", "--dry-run")
        run(project.path, python, "manage.py", *check, env=service_env)
        production = {
            **service_env,
            "MY_SERVICE_DEBUG": "false",
            "MY_SERVICE_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
            "MY_SERVICE_ALLOWED_HOSTS": "api.example.com",
        }
        deploy = ("check", "--deploy", "--fail-level", "WARNING")
        assert "no issues" in run(project.path, python, "manage.py", *deploy, env=production).stdout

    with harness.serve(project, service_env, tmp_path / "serve.log").start() as server:
        base = server.url
        status, headers, body = request("GET", f"{base}/health/live")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["x-request-id"]

        if variant.include_example_api:
            if token is not None:
                assert request("GET", f"{base}/api/v1/items")[0] == 401
            item = {"name": "round trip"}
            status, headers, body = request("POST", f"{base}/api/v1/items", item, token)
            assert status == 201, body
            location = headers["location"]
            status, _, body = request("GET", f"{base}{location}", token=token)
            assert status == 200
            assert json.loads(body)["name"] == "round trip"
        else:
            assert request("GET", f"{base}/api/v1/items", token=token)[0] == 404
        if variant.realtime:
            check_events(base, clients=4)

        # A granian worker still starting when SIGTERM arrives goes on running until the
        # kill timeout: stop the service once every worker has started, as a deploy would.
        server.wait_for_output('"Started worker-', count=workers)
        assert server.stop() == 0

    # Every line the server wrote is a JSON record: nothing escaped the logging pipeline.
    records = server.records()
    access = [r for r in records if r.get("event") == "request"]
    assert access
    assert all(r["request_id"] and "duration_ms" in r for r in access)
    assert any("shutdown" in r["event"].lower() for r in records)

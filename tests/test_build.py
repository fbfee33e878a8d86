"""Build tier: a rendered service installs, migrates, passes its own tests and serves for real."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from harness import (
    BUILD_VARIANTS,
    POSTGRES_SERVER,
    Variant,
    clean_env,
    find_python,
    free_port,
    run,
    uv,
)
from websockets.sync.client import connect

pytestmark = pytest.mark.build

READY_TIMEOUT = 60  # seconds for a served process to answer /health/ready
STOP_TIMEOUT = 30  # seconds for it to exit after SIGTERM


def request(method: str, url: str, body: dict | None = None) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_ready(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited with {process.returncode} before it was ready")
        try:
            if request("GET", f"{base}/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{base}/health/ready did not answer 200 within {READY_TIMEOUT}s")


def wait_for_workers(log: Path, workers: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while log.read_text().count('"Started worker-') < workers:
        if time.monotonic() > deadline:
            pytest.fail(f"{workers} workers did not start within {READY_TIMEOUT}s")
        time.sleep(0.1)


def check_events(port: int, clients: int) -> None:
    """Every client connected to /ws/items hears of a write, whichever worker serves it."""
    with contextlib.ExitStack() as stack:
        url = f"ws://127.0.0.1:{port}/ws/items"
        feeds = [stack.enter_context(connect(url)) for _ in range(clients)]
        status, headers, body = request(
            "POST", f"http://127.0.0.1:{port}/api/v1/items", {"name": "announced"}
        )
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


@pytest.fixture(params=BUILD_VARIANTS, ids=lambda v: v.id)
def variant(request: pytest.FixtureRequest) -> Variant:
    return request.param


@pytest.fixture
def database_url(variant: Variant, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database the served process uses: a new PostgreSQL database, or a SQLite file."""
    # SQLAlchemy URLs name the async driver; Django's name only the database.
    fastapi = variant.framework == "fastapi"
    if variant.database == "postgresql":
        name = request.getfixturevalue("postgres_database")
        scheme = "postgresql+asyncpg" if fastapi else "postgresql"
        return f"{POSTGRES_SERVER.replace('postgresql', scheme, 1)}/{name}"
    scheme = "sqlite+aiosqlite" if fastapi else "sqlite"
    return f"{scheme}:///{tmp_path / 'served.sqlite3'}"


def test_service_builds_tests_and_serves(copie, variant: Variant, database_url: str) -> None:
    result = copie.copy(extra_answers=variant.answers(), vcs_ref="HEAD")
    assert result.exit_code == 0, result.exception
    project: Path = result.project_dir
    env = clean_env(UV_PYTHON=find_python(variant.python_version))

    run(project, uv(), "sync", "--locked", env=env)

    # The generated suite, against a real database (PostgreSQL: it makes its own database on
    # the server that DATABASE_URL names).
    test_env = dict(env)
    if variant.database == "postgresql":
        test_env["DATABASE_URL"] = database_url
    tests = run(
        project, uv(), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", env=test_env
    )
    assert " passed" in tests.stdout, tests.stdout
    assert " failed" not in tests.stdout, tests.stdout

    # Migrate and serve with the project's own commands, configured like production.
    port = free_port()
    service_env = {
        **env,
        "MY_SERVICE_DATABASE_URL": database_url,
        "MY_SERVICE_PORT": str(port),
        "MY_SERVICE_LOG_FORMAT": "json",
        # Two workers; one with in-memory events, which reach the clients of one process only.
        "MY_SERVICE_WORKERS": "1" if variant.realtime and variant.broker == "memory" else "2",
    }
    command = str(project / ".venv" / "bin" / "my-service")
    migrated = run(project, command, "migrate", env=service_env)
    assert all(json.loads(line) for line in migrated.stdout.splitlines())

    if variant.framework == "django":
        python = str(project / ".venv" / "bin" / "python")
        run(project, python, "manage.py", "makemigrations", "--check", "--dry-run", env=service_env)
        production = {
            **service_env,
            "MY_SERVICE_DEBUG": "false",
            "MY_SERVICE_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
            "MY_SERVICE_ALLOWED_HOSTS": "api.example.com",
        }
        deploy = ("check", "--deploy", "--fail-level", "WARNING")
        assert "no issues" in run(project, python, "manage.py", *deploy, env=production).stdout

    with (project / "serve.log").open("w+") as log:
        process = subprocess.Popen(
            [command, "serve"],
            cwd=project,
            env=service_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, process)
            status, headers, body = request("GET", f"{base}/health/live")
            assert (status, json.loads(body)) == (200, {"status": "ok"})
            assert headers["x-request-id"]

            if variant.include_example_api:
                status, headers, body = request(
                    "POST", f"{base}/api/v1/items", {"name": "round trip"}
                )
                assert status == 201, body
                location = headers["location"]
                status, _, body = request("GET", f"{base}{location}")
                assert status == 200
                assert json.loads(body)["name"] == "round trip"
            else:
                assert request("GET", f"{base}/api/v1/items")[0] == 404
            if variant.realtime:
                check_events(port, clients=4)

            # A granian worker still starting when SIGTERM arrives goes on running until the
            # kill timeout: stop the service once every worker has started, as a deploy would.
            wait_for_workers(project / "serve.log", int(service_env["MY_SERVICE_WORKERS"]))
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOP_TIMEOUT) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.seek(0)
        lines = [line for line in log.read().splitlines() if line.strip()]

    # Every line the server wrote is a JSON record: nothing escaped the logging pipeline.
    records = [json.loads(line) for line in lines]
    access = [r for r in records if r.get("event") == "request"]
    assert access
    assert all(r["request_id"] and "duration_ms" in r for r in access)
    assert any("shutdown" in r["event"].lower() for r in records)

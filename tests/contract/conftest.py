"""Fixtures of the contract suite: one deployment and one running service per variant."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deploy import (
    CONTRACT_VARIANTS,
    MAX_BODY_SIZE,
    SHUTDOWN_TIMEOUT,
    Database,
    Deployment,
    Service,
    TcpProxy,
)
from harness import POSTGRES_SERVER, Variant, clean_env, find_python, run, uv


@pytest.fixture(
    scope="session", params=CONTRACT_VARIANTS, ids=lambda v: f"{v.framework}-{v.database}"
)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, copie_session
) -> Iterator[Deployment]:
    variant: Variant = request.param
    result = copie_session.copy(extra_answers=variant.answers(), vcs_ref="HEAD")
    assert result.exit_code == 0, result.exception
    project: Path = result.project_dir
    env = clean_env(UV_PYTHON=find_python(variant.python_version))
    run(project, uv(), "sync", "--locked", env=env)

    fastapi = variant.framework == "fastapi"
    cleanup = []
    if variant.database == "postgresql":
        import psycopg

        name = f"cps_contract_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        proxy = TcpProxy(("127.0.0.1", 5432))
        proxy.start()
        scheme = "postgresql+asyncpg" if fastapi else "postgresql"
        database = Database(
            kind="postgresql",
            service_url=f"{scheme}://postgres@127.0.0.1:{proxy.port}/{name}",
            direct=f"{POSTGRES_SERVER}/{name}",
            proxy=proxy,
        )

        def drop() -> None:
            proxy.stop()
            with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        cleanup.append(drop)
    else:
        path = tmp_path_factory.mktemp("contract-db") / "db" / "service.sqlite3"
        path.parent.mkdir()
        scheme = "sqlite+aiosqlite" if fastapi else "sqlite"
        database = Database(kind="sqlite", service_url=f"{scheme}:///{path}", direct=str(path))

    service_env = {
        **env,
        "MY_SERVICE_DATABASE_URL": database.service_url,
        "MY_SERVICE_LOG_FORMAT": "json",
        "MY_SERVICE_WORKERS": "2",
        "MY_SERVICE_MAX_BODY_SIZE": str(MAX_BODY_SIZE),
        "MY_SERVICE_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        "MY_SERVICE_DB_TIMEOUT": "2",
        "MY_SERVICE_SECRET_KEY": uuid.uuid4().hex * 2,  # Django's; production reads it so
    }
    run(project, str(project / ".venv" / "bin" / "my-service"), "migrate", env=service_env)
    try:
        yield Deployment(variant, project, database, service_env)
    finally:
        for action in cleanup:
            action()
        shutil.rmtree(project, ignore_errors=True)


@pytest.fixture(scope="session")
def service(deployment: Deployment) -> Iterator[Service]:
    """The variant's long-running process, shared by the tests; stopped and checked at the end."""
    service = deployment.service("service").start()
    yield service
    assert service.terminate() == 0
    service.records()  # every line it wrote was JSON


@pytest.fixture
def http(service: Service) -> Iterator[httpx.Client]:
    # trust_env=False: no proxy from the environment; every request goes to loopback.
    with httpx.Client(base_url=service.base_url, timeout=30, trust_env=False) as client:
        yield client

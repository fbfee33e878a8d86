"""Fixtures of the contract suite: one deployment and one running service per variant."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest
from deploy import CONTRACT_VARIANTS, MAX_BODY_SIZE, SHUTDOWN_TIMEOUT, Deployment, TcpProxy

import harness
from harness import Server, Variant, run


@pytest.fixture(
    scope="session", params=CONTRACT_VARIANTS, ids=lambda v: f"{v.framework}-{v.database}"
)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    variant: Variant = request.param
    project = harness.installed(variant)  # shared with the build tier's test of these answers
    logs = tmp_path_factory.mktemp(f"contract-{variant.framework}-{variant.database}")
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(
            harness.database(variant.database, logs / "db", prefix="cps_contract")
        )
        proxy = None
        url = database.url(variant.framework)
        if variant.database == "postgresql":
            proxy = TcpProxy(("127.0.0.1", 5432))
            proxy.start()
            stack.callback(proxy.stop)  # before the database is dropped
            url = database.url(variant.framework, f"postgresql://postgres@127.0.0.1:{proxy.port}")
        env = harness.service_env(
            project,
            url,
            workers="2",
            max_body_size=str(MAX_BODY_SIZE),
            shutdown_timeout=str(SHUTDOWN_TIMEOUT),
            db_timeout="2",
        )
        run(project.path, project.bin("my-service"), "migrate", env=env)
        yield Deployment(variant, project, database, env, logs, proxy)


@pytest.fixture(scope="session")
def service(deployment: Deployment) -> Iterator[Server]:
    """The variant's long-running process, shared by the tests; stopped and checked at the end."""
    service = deployment.service("service").start()
    yield service
    assert service.stop(SHUTDOWN_TIMEOUT + 10) == 0
    service.records()  # every line it wrote was JSON


@pytest.fixture
def http(service: Server) -> Iterator[httpx.Client]:
    # trust_env=False: no proxy from the environment; every request goes to loopback.
    with httpx.Client(base_url=service.url, timeout=30, trust_env=False) as client:
        yield client

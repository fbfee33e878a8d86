"""One OpenAPI document for both frameworks (src/<package>/openapi.py of a render).

For each answer set that changes the document, the FastAPI and the Django service serve the
same document apart from `info`. Then a client is generated from each framework's document with
openapi-python-client, and the same scenario runs with each client against each framework's
service, over sockets: four combinations, one scenario.

Build tier: a document is what the installed render serves (the frameworks are not installed
in the template's own environment). Each test is grouped with its FastAPI variant, installed
for the build tier anyway; the Django one is installed once more in that worker (seconds).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import harness
from harness import ROOT, Variant, run

pytestmark = pytest.mark.build

GENERATOR = str(Path(sys.prefix) / "bin" / "openapi-python-client")

# Answer sets that change the document: the example API or none, bearer authentication,
# WebSockets (absent from OpenAPI). Each pair is two of the build tier's variants (already
# installed for it), which differ only where the document cannot tell (broker, Python).
# (The example API's pair, served over sockets, is the client test's.)
PAIRS = [
    pytest.param(
        Variant(framework="fastapi", include_example_api=False, python_version="3.12"),
        Variant(framework="django", include_example_api=False, python_version="3.12"),
        id="bare",
    ),
    pytest.param(
        Variant(framework="fastapi", auth="oidc", python_version="3.12"),
        Variant(framework="django", auth="oidc"),
        id="auth-oidc",
    ),
    pytest.param(
        Variant(framework="fastapi", realtime=True, broker="memory"),
        Variant(framework="django", realtime=True, broker="redis"),
        id="realtime",
    ),
]

# Fetches /openapi.json from the service's ASGI application, in process (no database needed).
SERVE_DOCUMENT = """
import asyncio, importlib, pathlib, sys
import httpx
from my_service import framework
module, _, name = framework.APPLICATION.partition(":")
app = getattr(importlib.import_module(module), name)
app = app() if framework.FACTORY else app
async def main():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    pathlib.Path(sys.argv[1]).write_text(response.text)  # stdout has the log lines
asyncio.run(main())
"""


def served_document(variant: Variant, directory: Path) -> dict[str, Any]:
    """The document the installed render of `variant` serves."""
    project = harness.installed(variant)
    env = harness.service_env(
        project,
        harness.database_url(variant.framework, "sqlite", directory / f"{variant.id}.sqlite3"),
        auth_issuer="https://issuer.invalid",  # read only when a token comes
        auth_audience="my-service",
    )
    document = directory / f"{variant.id}.json"
    run(project.path, project.bin("python"), "-c", SERVE_DOCUMENT, str(document), env=env)
    return json.loads(document.read_text())


def without_info(document: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in document.items() if k != "info"}, indent=1, sort_keys=True)


def assert_same_document(fastapi: dict[str, Any], django: dict[str, Any]) -> None:
    a, b = without_info(fastapi), without_info(django)
    diff = "\n".join(
        difflib.unified_diff(a.splitlines(), b.splitlines(), "fastapi", "django", lineterm="")
    )
    if a != b:
        pytest.fail(f"the two frameworks' OpenAPI documents differ (apart from info):\n{diff}")


ITEM_OPERATIONS = {
    "create_item",
    "read_item",
    "list_items",
    "update_item",
    "delete_item",
    "export_items",
}


def operation_ids(document: dict[str, Any]) -> set[str]:
    return {
        operation["operationId"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
    }


@pytest.mark.parametrize(("fastapi", "django"), PAIRS)
def test_both_frameworks_serve_one_document(
    fastapi: Variant, django: Variant, tmp_path: Path
) -> None:
    documents = [served_document(variant, tmp_path) for variant in (fastapi, django)]
    assert_same_document(*documents)
    items = ITEM_OPERATIONS if fastapi.include_example_api else set()
    assert operation_ids(documents[0]) == {"health_live", "health_ready"} | items
    if fastapi.auth == "oidc":
        assert documents[0]["components"]["securitySchemes"] == {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }


# --- Clients generated from each document, against each service ------------------------------


def docs_block(marker: str, language: str) -> str:
    """The block of docs/service.md after `<!-- marker -->`."""
    text = (ROOT / "docs" / "service.md").read_text()
    match = re.search(rf"<!-- {marker} -->\n```{language}\n(.+?)```", text, re.DOTALL)
    assert match, f"docs/service.md shows no <!-- {marker} --> block"
    return match.group(1)


def generate_client(url: str, directory: Path, name: str | None = None) -> ModuleType:
    """The client generated from the document served at `url` as docs/service.md generates one
    (openapi-python-client, the configuration it shows), its package named `name` rather than
    after the API's title if given; imported."""
    config = directory / f"{name}.yaml"
    override = f"package_name_override: {name}\n" if name else ""
    config.write_text(docs_block("client-config", "yaml") + override)
    name = name or "my_service_client"  # what docs/service.md says the title makes
    output = directory / name
    run(
        directory,
        *(GENERATOR, "generate", "--url", f"{url}/openapi.json", "--config", str(config)),
        *("--meta", "none", "--output-path", str(output), "--fail-on-warning"),
        env=os.environ | {"PATH": f"{Path(sys.prefix) / 'bin'}:{os.environ['PATH']}"},  # ruff
    )
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(directory))


def scenario(client_package: str, base_url: str) -> None:
    """Create, a duplicate, read, list, update, export, delete, a 404 and a 422, each typed."""

    def module(name: str) -> Any:
        return importlib.import_module(f"{client_package}.{name}")

    models = module("models")
    items = {
        name: module(f"api.items.{name}")
        for name in ("create_item", "read_item", "list_items", "update_item", "delete_item")
    }
    export_items = module("api.items.export_items")
    health_live = module("api.health.health_live")
    client = module("client").Client(base_url=base_url, raise_on_unexpected_status=True)
    name = f"client {client_package} {uuid.uuid4().hex[:8]}"

    assert health_live.sync(client=client) == models.Live(status="ok")
    created = items["create_item"].sync_detailed(client=client, body=models.ItemCreate(name=name))
    assert created.status_code == 201
    item = created.parsed
    assert isinstance(item, models.ItemRead)
    assert item.name == name

    duplicate = items["create_item"].sync_detailed(client=client, body=models.ItemCreate(name=name))
    assert duplicate.status_code == 409
    assert isinstance(duplicate.parsed, models.Problem)
    assert duplicate.parsed.status == 409

    assert items["read_item"].sync(client=client, item_id=item.id) == item
    page = items["list_items"].sync(client=client, limit=100, offset=0)
    assert isinstance(page, models.ItemPage)
    assert page.total >= 1
    assert page.limit == 100

    renamed = items["update_item"].sync(
        client=client, item_id=item.id, body=models.ItemUpdate(name=name + " renamed")
    )
    assert isinstance(renamed, models.ItemRead)
    assert renamed.name == name + " renamed"

    export = export_items.sync(client=client)
    assert isinstance(export, str)
    lines = [models.ItemRead.from_dict(json.loads(line)) for line in export.splitlines()]
    assert renamed in lines

    assert items["delete_item"].sync_detailed(client=client, item_id=item.id).status_code == 204
    gone = items["read_item"].sync_detailed(client=client, item_id=item.id)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, models.Problem)
    assert gone.parsed.detail == f"Item {item.id} does not exist."

    invalid = items["create_item"].sync_detailed(client=client, body=models.ItemCreate(name=""))
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.Problem)
    assert [error.field for error in invalid.parsed.errors] == ["name"]


@pytest.fixture
def services(fastapi: Variant, django: Variant, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Each framework's service, migrated and served: its URL."""
    urls = {}
    with contextlib.ExitStack() as stack:
        for variant in (fastapi, django):
            framework = variant.framework
            project = harness.installed(variant)
            url = harness.database_url(framework, "sqlite", tmp_path / f"{framework}.sqlite3")
            env = harness.service_env(project, url, workers="1")
            run(project.path, project.bin("my-service"), "migrate", env=env)
            server = harness.serve(project, env, tmp_path / f"{framework}.log")
            urls[framework] = stack.enter_context(server.start()).url
        yield urls


@pytest.mark.parametrize(
    ("fastapi", "django"),
    [(Variant(framework="fastapi"), Variant(framework="django"))],
    ids=["api"],
)
def test_a_client_generated_from_either_document_works_against_both(
    fastapi: Variant, django: Variant, services: dict[str, str], tmp_path: Path
) -> None:
    documents = {
        framework: httpx.get(f"{url}/openapi.json", timeout=10, trust_env=False).json()
        for framework, url in services.items()
    }
    assert_same_document(documents["fastapi"], documents["django"])
    assert operation_ids(documents["fastapi"]) == {"health_live", "health_ready"} | ITEM_OPERATIONS
    clients = {
        "fastapi": generate_client(services["fastapi"], tmp_path),
        "django": generate_client(services["django"], tmp_path, "client_from_django"),
    }
    # The same functions and models, named alike: the two clients are one client.
    trees = [
        sorted(
            str(p.relative_to(tmp_path / c.__name__)) for p in (tmp_path / c.__name__).rglob("*.py")
        )
        for c in clients.values()
    ]
    assert trees[0] == trees[1]
    for client in clients.values():
        for framework, url in services.items():
            try:
                scenario(client.__name__, url)
            except AssertionError as error:
                raise AssertionError(f"{client.__name__} against {framework}: {error}") from error
    # And the example of docs/service.md, as written, against each service.
    usage = docs_block("client-usage", "python")
    for url in services.values():
        code = compile(usage.replace("http://127.0.0.1:8000", url), "docs/service.md", "exec")
        exec(code, {})  # noqa: S102 - the docs' own example

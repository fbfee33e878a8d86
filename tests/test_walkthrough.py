"""docs/service.md's "Add a resource", followed as written on each framework: a second
resource with its migration, routes and test, and the project's gates still pass."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_openapi import SERVE_DOCUMENT

from harness import ROOT, clean_env, find_python, render, run, uv

pytestmark = pytest.mark.build

# A step: `<!-- resource WHO ACTION ARGUMENT -->` over a fenced block.
STEP = re.compile(r"<!-- resource (both|fastapi|django) (\w+)(.*?) -->\n```\w+\n(.*?)```", re.S)


def steps(framework: str) -> list[tuple[str, str, str]]:
    """(action, argument, block) of every step of the walkthrough for `framework`, in order."""
    text = (ROOT / "docs" / "service.md").read_text()
    found = [
        (action, argument.strip(), block)
        for who, action, argument, block in STEP.findall(text)
        if who in ("both", framework)
    ]
    assert len(found) >= 6, "the walkthrough lost its steps"
    return found


def insert(path: Path, anchor: str, block: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    [at] = [n for n, line in enumerate(lines) if anchor in line]  # exactly one place
    path.write_text("".join([*lines[: at + 1], block, *lines[at + 1 :]]))


@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_add_a_resource_as_documented(tmp_path: Path, framework: str) -> None:
    project = render(tmp_path / "my-service", framework=framework)
    env = clean_env(UV_PYTHON=find_python("3.13"))
    run(project, uv(), "sync", env=env)
    for action, argument, block in steps(framework):
        if action == "write":
            path = project / argument
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block)
        elif action == "insert":
            file, anchor = argument.split(" after: ", 1)
            insert(project / file, anchor, block)
        else:
            for command in block.splitlines():
                run(project, "bash", "-c", command.split("  #")[0], env=env)

    # The resource is there, with its migration, and the project's gates hold.
    migrations = (
        project
        / "src"
        / "my_service"
        / ("migrations/versions" if framework == "fastapi" else "notes/migrations")
    )
    [migration] = [p for p in migrations.glob("*.py") if '"title"' in p.read_text()]
    assert "200" in migration.read_text()  # the column's length, from the model
    # (The walkthrough's own `uv run pytest` ran the whole suite; this shows the new tests ran.)
    notes = run(project, uv(), "run", "pytest", "-q", "tests/test_notes.py", env=env)
    assert "2 passed" in notes.stdout
    run(project, uv(), "run", "ruff", "check", ".", env=env)
    run(project, uv(), "run", "ruff", "format", "--check", ".", env=env)

    # The new routes' operation ids follow the rule (openapi.py): their functions' names.
    document = tmp_path / "openapi.json"
    python = str(project / ".venv" / "bin" / "python")
    run(project, python, "-c", SERVE_DOCUMENT, str(document), env=env)
    paths = json.loads(document.read_text())["paths"]
    assert paths["/api/v1/notes"]["post"]["operationId"] == "create_note"
    assert paths["/api/v1/notes/{note_id}"]["get"]["operationId"] == "read_note"

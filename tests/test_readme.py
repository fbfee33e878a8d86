"""README.md's commands work as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from harness import ROOT, Server, clean_env

README = (ROOT / "README.md").read_text(encoding="utf-8")


def command_after(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```sh\n(.+?)\n```", README, re.DOTALL)
    assert match, f"README.md has no command block after <!-- {marker} -->"
    return match.group(1)


def test_ci_runs_the_readme_test_command() -> None:
    # .ci/run extracts the block after this marker and runs it; the block must be there.
    assert command_after("test-command") == "uv run pytest"
    assert "<!-- test-command -->" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.build
def test_scaffold_command_starts_a_ready_service(tmp_path: Path) -> None:
    # Run from a copy of the working tree, so the service lands in tmp_path/my-service.
    clone = tmp_path / "copier-python-service"
    shutil.copytree(
        ROOT,
        clone,
        ignore=shutil.ignore_patterns(".venv", ".tools", "__pycache__", ".*_cache"),
    )
    command = ["bash", "-c", command_after("scaffold-command")]
    env = clean_env(MY_SERVICE_PORT="{port}")
    # The whole chain (copier, uv, the service) runs in the server's process group.
    with Server(command, clone, env, tmp_path / "scaffold.log").start(timeout=180) as server:
        assert httpx.get(f"{server.url}/health/ready", trust_env=False).status_code == 200
    assert (tmp_path / "my-service" / "uv.lock").is_file()
    assert (tmp_path / "my-service" / "my_service.sqlite3").is_file()

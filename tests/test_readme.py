"""README.md's commands work as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest
import yaml

from harness import ROOT, Server, clean_env, run

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
    git = ["git", "-c", "user.name=Quickstart", "-c", "user.email=quickstart@example.com"]
    # A working tree with changes renders from a commit Copier makes in a temporary copy, which
    # the update below could not find again: commit them in the copy, as a user would.
    run(clone, *git, "add", "--all", env=clean_env())
    if run(clone, "git", "status", "--porcelain", env=clean_env()).stdout:
        run(clone, *git, "commit", "--quiet", "--message", "Work in progress", env=clean_env())
    command = ["bash", "-c", command_after("scaffold-command")]
    env = clean_env(MY_SERVICE_PORT="{port}")
    # The whole chain (copier, uv, the service) runs in the server's process group.
    with Server(command, clone, env, tmp_path / "scaffold.log").start(timeout=180) as server:
        assert httpx.get(f"{server.url}/health/ready", trust_env=False).status_code == 200
    project = tmp_path / "my-service"
    assert (project / "uv.lock").is_file()
    assert (project / "my_service.sqlite3").is_file()

    # The project found its way back to the template: `copier update` works in it (with `.`
    # as the source, the project recorded itself as its template and the update failed).
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert Path(answers["_src_path"]) == clone
    env = clean_env()
    run(project, *git, "add", "--all", env=env)
    run(project, *git, "commit", "--quiet", "--message", "The scaffold", env=env)
    (project / "README.md").write_text((project / "README.md").read_text() + "\nOur notes.\n")
    run(project, *git, "commit", "--quiet", "--all", "--message", "Our notes", env=env)
    update = "uvx copier update --trust --defaults --skip-answered --vcs-ref=HEAD"
    run(project, "bash", "-c", update, env=env)
    assert (project / "README.md").read_text().endswith("\nOur notes.\n")
    assert run(project, "git", "status", "--porcelain", env=env).stdout == ""

"""README.md's commands work as written."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from harness import ROOT, clean_env, free_port

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
    port = free_port()
    process = subprocess.Popen(
        ["bash", "-c", command_after("scaffold-command")],
        cwd=clone,
        env=clean_env(MY_SERVICE_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # one process group: the whole chain stops together
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/health/ready"
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.5)
        else:
            output = process.stdout.read() if process.poll() is not None else ""
            pytest.fail(f"the scaffolded service never became ready:\n{output[-4000:]}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert (tmp_path / "my-service" / "uv.lock").is_file()
    assert (tmp_path / "my-service" / "my_service.sqlite3").is_file()

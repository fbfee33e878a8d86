"""The questions: derived defaults, and bad answers refused with a message, writing nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import ROOT, render


def test_stdlib_list_covers_this_interpreter() -> None:
    config = yaml.safe_load((ROOT / "meta" / "stdlib-modules.yml").read_text())
    listed = set(config["stdlib_modules"]["default"])
    public = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    assert public <= listed, sorted(public - listed)


def test_names_are_derived_from_the_project_name(tmp_path: Path) -> None:
    render(tmp_path / "out", project_name="  Billing API 2 ")
    answers = yaml.safe_load((tmp_path / "out" / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "billing-api-2"
    assert answers["package_name"] == "billing_api_2"
    assert (tmp_path / "out" / "src" / "billing_api_2" / "app.py").is_file()
    prefix_line = "BILLING_API_2_DATABASE_URL="
    assert prefix_line in (tmp_path / "out" / ".env.example").read_text()


def test_copy_without_trust_succeeds_when_tasks_are_skipped(tmp_path: Path) -> None:
    render(tmp_path / "out")
    assert (tmp_path / "out" / "pyproject.toml").is_file()
    assert not (tmp_path / "out" / "uv.lock").exists()  # the task did not run


BAD_ANSWERS = [
    ({"project_name": "   "}, "must not be empty"),
    ({"project_slug": "My Service"}, "use a-z, 0-9 and hyphens only"),
    ({"project_slug": "MyService"}, "use a-z, 0-9 and hyphens only"),
    ({"project_slug": "1service"}, "must start with a letter"),
    ({"project_slug": "service-"}, "no double or trailing hyphens"),
    ({"project_slug": "my--service"}, "no double or trailing hyphens"),
    ({"package_name": "class"}, '"class" is a Python keyword'),
    ({"package_name": "logging"}, "shadows a standard-library module"),
    ({"package_name": "json"}, "shadows a standard-library module"),
    ({"package_name": "test"}, "shadows a standard-library module"),
    ({"package_name": "my-service"}, "use a-z, 0-9 and underscores only"),
    ({"package_name": "9lives"}, "must start with a letter"),
    ({"package_name": "fastapi"}, "taken by a dependency or a folder"),
    ({"author_name": ""}, "must not be empty"),
    ({"author_email": "not-an-email"}, "expected name@domain.tld"),
    ({"author_email": "a@b"}, "expected name@domain.tld"),
    ({"framework": "flask"}, "flask"),
    ({"database": "oracle"}, "oracle"),
    ({"python_version": "3.11"}, "3.11"),
]


@pytest.mark.parametrize(("data", "message"), BAD_ANSWERS, ids=lambda x: str(x)[:40])
def test_bad_answer_is_refused_and_nothing_is_written(
    tmp_path: Path, data: dict[str, object], message: str
) -> None:
    destination = tmp_path / "out"
    with pytest.raises(ValueError, match=message) as refused:
        render(destination, **data)
    assert not destination.exists() or not any(destination.iterdir())
    # The interactive prompt shows a validator's message on one line, cut at the terminal's
    # width (test_interactive.py reads some of them there): each fits in 80 columns.
    if str(refused.value).startswith("Validation error for question"):
        assert len(str(refused.value)) <= 80, str(refused.value)


def test_post_copy_task_explains_missing_tools(tmp_path: Path) -> None:
    # No uv and no git on PATH: the task says what it skipped and still succeeds.
    result = subprocess.run(
        [sys.executable, str(ROOT / "meta" / "post_copy.py")],
        cwd=tmp_path,
        env={"PATH": str(tmp_path / "empty-bin")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "`uv` not found, skipped locking dependencies" in result.stdout
    assert "run `uv lock` later" in result.stdout
    assert "`git` not found, skipped creating a git repository" in result.stdout
    assert not (tmp_path / ".git").exists()

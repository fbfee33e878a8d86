"""`copier copy` as a person runs it: real prompts in a pseudo-terminal, arrow keys and typing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest
import yaml
from copier.errors import InteractiveSessionError

from harness import ROOT, render

COPIER = str(Path(sys.prefix) / "bin" / "copier")
UP, DOWN, ENTER, CLEAR_LINE = "\x1b[A", "\x1b[B", "\r", "\x15"


def answer_prompts(destination: Path, steps: list[tuple[str, str]]) -> str:
    """Run copier interactively, wait for each prompt (by its help text), send the keys."""
    child = pexpect.spawn(
        COPIER,
        ["copy", "--skip-tasks", "--vcs-ref", "HEAD", str(ROOT), str(destination)],
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 200),
        # prompt_toolkit asks the terminal for the cursor position and waits a second for an
        # answer that pexpect never gives; this tells it not to ask.
        env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1"},
    )
    try:
        for prompt, keys in steps:
            child.expect(prompt)
            child.send(keys)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    return child.before


def test_non_default_choices_through_the_real_prompts(tmp_path: Path) -> None:
    destination = tmp_path / "ledger"
    output = answer_prompts(
        destination,
        [
            ("Human-readable name", CLEAR_LINE + "Ledger API" + ENTER),
            ("Distribution and command name", ENTER),  # the derived "ledger-api"
            ("Python import name", ENTER),  # the derived "ledger_api"
            ("One-line description", CLEAR_LINE + "Keeps the books." + ENTER),
            ("Author or team name", CLEAR_LINE + "Ada" + ENTER),
            ("e-mail address", CLEAR_LINE + "ada@example.org" + ENTER),
            ("Oldest CPython", UP + ENTER),  # 3.13 -> 3.12
            ("Web framework", DOWN + ENTER),  # django
            ("Database the service", DOWN + ENTER),  # postgresql
            ("example `items` CRUD API", "n"),
            ("Django admin", "n"),  # asked because the framework is Django
            ("free-threaded CPython", "n"),
            ("Continuous integration", DOWN + ENTER),  # gitlab
        ],
    )
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    # Rendered through git (--vcs-ref): the answers record where from, and which commit.
    assert {k for k in answers if k.startswith("_")} == {"_commit", "_src_path"}
    assert {k: v for k, v in answers.items() if not k.startswith("_")} == {
        "project_name": "Ledger API",
        "project_slug": "ledger-api",
        "package_name": "ledger_api",
        "description": "Keeps the books.",
        "author_name": "Ada",
        "author_email": "ada@example.org",
        "python_version": "3.12",
        "framework": "django",
        "database": "postgresql",
        "include_example_api": False,
        "django_admin": False,
        "free_threading": False,
        "ci": "gitlab",
    }
    # The rendered project matches the choices.
    assert (destination / "src" / "ledger_api" / "config" / "settings.py").is_file()
    assert (destination / "manage.py").is_file()
    assert not (destination / "src" / "ledger_api" / "items").exists()
    assert (destination / ".gitlab-ci.yml").is_file()
    assert not (destination / ".github").exists()
    assert not (destination / "scripts").exists()
    assert 'requires-python = ">=3.12"' in (destination / "pyproject.toml").read_text()
    assert '"psycopg[pool]' in (destination / "pyproject.toml").read_text()
    # The message after copy gives the next steps for this variant.
    assert "uv run ledger-api migrate" in output
    assert "LEDGER_API_DATABASE_URL" in output


def test_framework_questions_are_hidden_for_the_other_framework(tmp_path: Path) -> None:
    destination = tmp_path / "svc"
    answer_prompts(
        destination,
        [
            ("Human-readable name", ENTER),
            ("Distribution and command name", ENTER),
            ("Python import name", ENTER),
            ("One-line description", ENTER),
            ("Author or team name", ENTER),
            ("e-mail address", ENTER),
            ("Oldest CPython", ENTER),
            ("Web framework", ENTER),  # fastapi: no Django admin question follows
            ("Database the service", ENTER),
            ("example `items` CRUD API", "y"),
            ("Push item events", "y"),  # asked with the example API (not without: above)
            ("How events reach the WebSocket clients", DOWN + ENTER),  # redis
            ("free-threaded CPython", "y"),
            ("Continuous integration", ENTER),
        ],
    )
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert answers["framework"] == "fastapi"
    assert "django_admin" not in answers
    assert (answers["realtime"], answers["broker"]) == (True, "redis")
    assert '"redis' in (destination / "pyproject.toml").read_text()


def test_copy_into_a_non_empty_folder(tmp_path: Path) -> None:
    # Copier's documented behaviour: files of the destination that the template does not
    # produce are left alone; a file it would replace needs a yes at its prompt, which a
    # non-interactive copy cannot give (it stops and says so) unless `--overwrite` is passed.
    destination = tmp_path / "existing"
    destination.mkdir()
    (destination / "NOTES.md").write_text("my notes\n")
    (destination / "README.md").write_text("my readme\n")

    with pytest.raises(InteractiveSessionError, match="--overwrite"):
        render(destination)
    assert (destination / "README.md").read_text() == "my readme\n"

    render(destination, overwrite=True)
    assert (destination / "NOTES.md").read_text() == "my notes\n"
    assert (destination / "README.md").read_text().startswith("# My Service")
    assert (destination / "pyproject.toml").is_file()


@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_message_after_copy_names_the_next_steps(
    tmp_path: Path, framework: str, capsys: pytest.CaptureFixture[str]
) -> None:
    render(tmp_path / "svc", quiet=False, framework=framework)
    message = capsys.readouterr().err + capsys.readouterr().out
    for step in (
        "uv sync",
        "uv run my-service migrate",
        "uv run my-service serve",
        "uv run pytest",
    ):
        assert step in message
    assert ("SECRET_KEY" in message) == (framework == "django")

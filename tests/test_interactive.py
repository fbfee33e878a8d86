"""`copier copy` as a person runs it: real prompts in a pseudo-terminal of 80 columns, arrow
keys and typing, and what the screen shows of the questions and of the refusals."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest
import yaml
from copier.errors import InteractiveSessionError
from wcwidth import wcwidth

from harness import ROOT, render

COPIER = str(Path(sys.prefix) / "bin" / "copier")
UP, DOWN, ENTER, CLEAR_LINE = "\x1b[A", "\x1b[B", "\r", "\x15"
ROWS, COLUMNS = 50, 80  # the narrowest common terminal


def questions() -> dict[str, dict[str, object]]:
    """The questions of copier.yml as written (the `!include` of the stdlib list set aside)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!include", lambda loader, node: None)
    with (ROOT / "copier.yml").open(encoding="utf-8") as config:
        documents = [document or {} for document in yaml.load_all(config, Loader=Loader)]
    return {
        name: spec
        for document in documents
        for name, spec in document.items()
        if isinstance(spec, dict) and "help" in spec
    }


QUESTIONS = questions()


def shown(question: str) -> list[str]:
    """The lines a prompt shows: its help text (no help here is a template), its choices."""
    spec = QUESTIONS[question]
    lines = [line.strip() for line in str(spec["help"]).splitlines()]
    return lines + list(spec.get("choices", {}))  # type: ignore[arg-type]


class Screen:
    """What a terminal of `columns` shows of the bytes it is sent: as much of a VT100 as
    prompt_toolkit uses (characters of their display width, CR, LF, cursor moves, erasing,
    autowrap on and off). Colours are ignored; rows scroll up without limit."""

    SEQUENCE = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])|\x1b.|.", re.DOTALL)
    UNFINISHED = re.compile(r"\x1b(\[[?0-9;]*)?$")

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.cells: list[list[str]] = [[]]
        self.row = self.column = 0
        self.autowrap = True
        self.pending = ""  # an escape sequence split between two reads

    def feed(self, text: str) -> None:
        text = self.pending + text
        unfinished = self.UNFINISHED.search(text)
        self.pending = text[unfinished.start() :] if unfinished else ""
        text = text[: unfinished.start()] if unfinished else text
        for match in self.SEQUENCE.finditer(text):
            params, final = match.group(1), match.group(2)
            if final:
                self._control(params, final)
            elif match.group(0) == "\r":
                self.column = 0
            elif match.group(0) == "\n":
                self.row += 1
                self.column = min(self.column, self.columns - 1)
            elif match.group(0) == "\b":
                self.column = max(min(self.column, self.columns - 1) - 1, 0)
            elif not match.group(0).startswith("\x1b"):
                self._put(match.group(0))

    def _line(self, row: int) -> list[str]:
        while len(self.cells) <= row:
            self.cells.append([])
        return self.cells[row]

    def _control(self, params: str, final: str) -> None:
        count = int(params) if params.isdigit() else 1
        column = min(self.column, self.columns - 1)
        if final == "A":
            self.row, self.column = max(self.row - count, 0), column
        elif final == "B":
            self.row, self.column = self.row + count, column
        elif final == "C":
            self.column = min(column + count, self.columns - 1)
        elif final == "D":
            self.column = max(column - count, 0)
        elif final == "J":  # erase below (the only form prompt_toolkit sends)
            del self._line(self.row)[column:]
            del self.cells[self.row + 1 :]
        elif final == "K":  # erase to the end of the line
            del self._line(self.row)[column:]
        elif params == "?7" and final in "hl":
            self.autowrap = final == "h"

    def _put(self, char: str) -> None:
        width = wcwidth(char)
        if width < 1:
            return
        if self.column + width > self.columns:
            if self.autowrap:
                self.row, self.column = self.row + 1, 0
            else:
                self.column = self.columns - width
        line = self._line(self.row)
        line.extend(" " * (self.column + width - len(line)))
        line[self.column : self.column + width] = [char] + [""] * (width - 1)
        self.column += width  # at `columns`: the next character wraps (or overwrites)

    def rows(self) -> list[str]:
        """The rows in view: the last ones, as many as the terminal has."""
        return ["".join(cells).rstrip() for cells in self.cells[-ROWS:]]


class Terminal:
    """`copier copy` in a pseudo-terminal of ROWS x COLUMNS, and its screen."""

    def __init__(self, destination: Path) -> None:
        self.child = pexpect.spawn(
            COPIER,
            ["copy", "--skip-tasks", "--vcs-ref", "HEAD", str(ROOT), str(destination)],
            encoding="utf-8",
            timeout=30,
            dimensions=(ROWS, COLUMNS),
            # prompt_toolkit asks the terminal for the cursor position and waits a second for
            # an answer that pexpect never gives; this tells it not to ask.
            env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1"},
        )
        self.screen = Screen(COLUMNS)
        self.finished = False

    def send(self, keys: str) -> None:
        self.child.send(keys)

    def read(self, timeout: float) -> None:
        try:
            self.screen.feed(self.child.read_nonblocking(65536, timeout))
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            self.finished = True

    def wait_for(self, *lines: str, timeout: float = 15) -> None:
        """Wait until each line is on screen, whole on one row; fail if one never is."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.screen.rows()
            missing = [line for line in lines if not any(line in row for row in rows)]
            if not missing:
                return
            if self.finished or time.monotonic() > deadline:
                screen = "\n".join(f"|{row}" for row in rows[-15:])
                pytest.fail(f"not shown whole at {COLUMNS} columns: {missing}\n{screen}")
            self.read(0.1)

    def finish(self) -> str:
        """Wait for Copier to exit; what the screen shows then."""
        while not self.finished:
            self.read(30)
        self.child.close()
        assert self.child.exitstatus == 0, "\n".join(self.screen.rows())
        return "\n".join(self.screen.rows())


def refusal(tmp_path: Path, question: str, answer: str) -> str:
    """The message with which Copier refuses `answer` (as a `--data` answer)."""
    with pytest.raises(ValueError, match="Validation error") as refused:
        render(tmp_path / "refused", **{question: answer})
    return str(refused.value)


def answer_prompts(
    destination: Path,
    steps: list[tuple[str, str]],
    refused: dict[str, list[str]] | None = None,
) -> str:
    """Run copier interactively: wait until each question is on screen (its whole help text
    and choices), type the `refused` answers of that question one by one and wait for the
    whole refusal each time, then send the keys of the step. What the screen shows at the end.
    """
    refused = refused or {}
    messages = {
        answer: refusal(destination.parent, question, answer)
        for question, answers in refused.items()
        for answer in answers
    }
    terminal = Terminal(destination)
    try:
        for question, keys in steps:
            terminal.wait_for(*shown(question))
            for answer in refused.get(question, []):
                terminal.send(CLEAR_LINE + answer + ENTER)
                terminal.wait_for(messages[answer])
            terminal.send(keys)
        return terminal.finish()
    finally:
        terminal.child.close(force=True)


def test_non_default_choices_through_the_real_prompts(tmp_path: Path) -> None:
    destination = tmp_path / "ledger"
    output = answer_prompts(
        destination,
        [
            ("project_name", CLEAR_LINE + "Ledger API" + ENTER),
            ("project_slug", CLEAR_LINE + "ledger-api" + ENTER),  # as derived
            ("package_name", CLEAR_LINE + "ledger_api" + ENTER),  # as derived
            ("description", CLEAR_LINE + "Keeps the books." + ENTER),
            ("author_name", CLEAR_LINE + "Ada" + ENTER),
            ("author_email", CLEAR_LINE + "ada@example.org" + ENTER),
            ("python_version", UP + ENTER),  # 3.13 -> 3.12
            ("framework", DOWN + ENTER),  # django
            ("database", DOWN + ENTER),  # postgresql
            ("include_example_api", "n"),
            ("django_admin", "n"),  # asked because the framework is Django
            ("auth", DOWN + ENTER),  # oidc
            ("free_threading", "n"),
            ("ci", DOWN + ENTER),  # gitlab
        ],
        # Bad answers first: each refusal is read whole on the screen.
        refused={
            "project_name": ["   "],
            "project_slug": ["Ledger_API", "1ledger", "ledger--api"],
            "package_name": ["json", "class", "fastapi", "ledger-api", "9ledger"],
            "author_email": ["ada@example"],
        },
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
        "auth": "oidc",
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
    assert (destination / "src" / "ledger_api" / "auth.py").is_file()
    # The message after copy gives the next steps for this variant.
    assert "uv run ledger-api migrate" in output
    assert "createdb -h 127.0.0.1 -U postgres ledger_api" in output
    assert "LEDGER_API_DATABASE_URL" in output


def test_framework_questions_are_hidden_for_the_other_framework(tmp_path: Path) -> None:
    destination = tmp_path / "svc"
    answer_prompts(
        destination,
        [
            ("project_name", ENTER),
            ("project_slug", ENTER),
            ("package_name", ENTER),
            ("description", ENTER),
            ("author_name", ENTER),
            ("author_email", ENTER),
            ("python_version", ENTER),
            ("framework", ENTER),  # fastapi: no Django admin question follows
            ("database", ENTER),
            ("include_example_api", "y"),
            ("realtime", "y"),  # asked with the example API (not without: above)
            ("broker", DOWN + ENTER),  # redis
            ("auth", ENTER),  # none
            ("free_threading", "y"),
            ("ci", ENTER),
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


@pytest.mark.parametrize(
    "answers",
    [
        {"framework": "fastapi"},
        {"framework": "django"},
        {"database": "postgresql", "realtime": True, "broker": "redis"},
        {"framework": "django", "database": "postgresql", "realtime": True, "broker": "memory"},
    ],
    ids=lambda answers: "-".join(str(value) for value in answers.values()),
)
def test_message_after_copy_names_the_next_steps(
    tmp_path: Path, answers: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    render(tmp_path / "svc", quiet=False, **answers)
    captured = capsys.readouterr()
    message = captured.err + captured.out
    for step in (
        "uv sync",
        "uv run my-service migrate",
        "uv run my-service serve",
        "uv run pytest",
    ):
        assert step in message
    assert ("SECRET_KEY" in message) == (answers.get("framework") == "django")
    postgresql = answers.get("database") == "postgresql"
    assert ("createdb -h 127.0.0.1 -U postgres my_service" in message) == postgresql
    assert ("MY_SERVICE_DATABASE_URL" in message) == postgresql
    assert ("MY_SERVICE_REDIS_URL" in message) == (answers.get("broker") == "redis")

"""The documentation builds strictly and explains every question copier.yml asks."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from harness import ROOT, run


def test_docs_build_strictly(tmp_path: Path) -> None:
    mkdocs = str(Path(sys.prefix) / "bin" / "mkdocs")
    run(ROOT, mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site"))
    assert (tmp_path / "site" / "contract" / "index.html").is_file()


def asked_questions() -> list[str]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!include", lambda loader, node: {})
    questions: list[str] = []
    for document in yaml.load_all((ROOT / "copier.yml").read_text(), Loader=Loader):
        for name, spec in (document or {}).items():
            asked = not (isinstance(spec, dict) and spec.get("when") is False)
            if not name.startswith("_") and asked:
                questions.append(name)
    return questions


def test_every_question_is_documented() -> None:
    documented = set(re.findall(r"^\| `(\w+)`", (ROOT / "docs" / "questions.md").read_text(), re.M))
    questions = asked_questions()
    assert "framework" in questions
    assert set(questions) == documented

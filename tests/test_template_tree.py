"""The template tree reads like the project it makes: plain paths, Jinja only where it must be."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness import ROOT

TEMPLATE = ROOT / "template"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# `{{answer}}`, optionally `.jinja`; or Copier's answers file.
ANSWER_PART = r"\{\{(\w+)\}\}(?:\.jinja)?|\{\{_copier_conf\.answers_file\}\}\.jinja"


def template_paths() -> list[Path]:
    return sorted(p.relative_to(TEMPLATE) for p in TEMPLATE.rglob("*") if p.is_file())


def computed_answers() -> dict[str, str]:
    """The `when: false` values of copier.yml, by name, with their Jinja default."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!include", lambda loader, node: {})
    computed = {}
    for document in yaml.load_all((ROOT / "copier.yml").read_text(), Loader=Loader):
        for name, spec in (document or {}).items():
            if isinstance(spec, dict) and spec.get("when") is False:
                computed[name] = spec["default"]
    return computed


def test_no_path_holds_a_jinja_statement() -> None:
    paths = template_paths()
    assert len(paths) > 50
    assert [str(p) for p in paths if "{%" in str(p) or "%}" in str(p)] == []


def test_every_path_part_is_a_name_or_a_single_answer() -> None:
    """A templated part is exactly `{{answer}}`: no expressions, filters or spaces in paths."""
    computed = computed_answers()
    for path in template_paths():
        for part in path.parts:
            if "{" not in part:
                continue
            match = re.fullmatch(ANSWER_PART, part)
            assert match, f"{path}: {part!r} is not a plain `{{{{answer}}}}`"
            name = match.group(1)
            assert name is None or name == "package_name" or name in computed, (path, name)


def test_conditional_paths_render_to_their_own_name_or_nothing() -> None:
    """`{{admin_py}}` is `admin.py` or nothing: a reader of the tree knows what each one makes."""
    used = {m for p in template_paths() for m in PLACEHOLDER.findall(str(p))} - {"package_name"}
    computed = computed_answers()
    for name in used:
        default = computed[name]
        made = re.fullmatch(r"\{\{ (?:'([^']+)'|package_name) if .+ else '' \}\}", default)
        assert made, f"{name}: {default!r} should read `{{{{ 'name' if condition else '' }}}}`"
        literal = made.group(1)
        if literal is not None:  # package folders render to the package name
            expected = literal.replace(".", "_").replace("-", "_").lstrip("_")
            assert expected in name, f"{name} renders to {literal!r}: name it after it"

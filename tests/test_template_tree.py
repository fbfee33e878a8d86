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
            expected = literal.replace(".", "_").replace("-", "_").lstrip("_0123456789")
            assert expected in name, f"{name} renders to {literal!r}: name it after it"


# --- Jinja inside files -------------------------------------------------------------------------

BLOCK_OPEN = re.compile(r"\{%-?\s*(if|for)\b")
BLOCK_CLOSE = re.compile(r"\{%-?\s*end(if|for)\b")
IMPORT = re.compile(r"\s*(from\s+(\S+)\s+import\b|import\s+(\S+))")


def python_templates() -> list[Path]:
    return [p for p in template_paths() if p.name.endswith(".py.jinja")]


def optional_modules() -> set[str]:
    """Modules that exist only with some answers: the names conditional paths render to."""
    names = set()
    for default in computed_answers().values():
        made = re.fullmatch(r"\{\{ '([^']+)' if .+ else '' \}\}", default)
        if made:
            names.add(made.group(1).removesuffix(".py"))
    return names


def test_jinja_statements_stand_on_lines_of_their_own() -> None:
    """In Python templates, Jinja chooses whole lines; it never splices names into a line."""
    spliced = []
    for path in python_templates():
        for number, line in enumerate((TEMPLATE / path).read_text().splitlines(), start=1):
            if "{%" in line and not re.fullmatch(r"\s*(\{%-?[^%]*-?%\}\s*)+", line):
                spliced.append(f"{path}:{number}: {line.strip()}")
    assert spliced == []


def test_only_optional_modules_are_imported_conditionally() -> None:
    """An import inside `{% if %}` wires in a module that exists only with that answer (an
    optional feature of the project); every other import is the same in every render."""
    optional = optional_modules()
    assert {"items", "events", "redis_broker", "admin_site", "routing"} <= optional
    wrong = []
    for path in python_templates():
        depth = 0
        for number, line in enumerate((TEMPLATE / path).read_text().splitlines(), start=1):
            depth += len(BLOCK_OPEN.findall(line)) - len(BLOCK_CLOSE.findall(line))
            match = IMPORT.match(line)
            if not match or depth == 0:
                continue
            module = match.group(2) or match.group(3)
            # The package's own modules; or a helper module of the tests (they import each
            # other by name, as pytest puts tests/ on sys.path).
            own = module.startswith((".", "{{ package_name }}.")) or module in optional
            parts = set(module.replace("{{ package_name }}", "").strip(".").split("."))
            if not (own and parts & optional):
                wrong.append(f"{path}:{number}: {line.strip()}")
    assert wrong == []


def test_imports_take_no_jinja_but_the_package_name() -> None:
    wrong = [
        f"{path}:{number}: {line.strip()}"
        for path in python_templates()
        for number, line in enumerate((TEMPLATE / path).read_text().splitlines(), start=1)
        if IMPORT.match(line) and re.sub(r"\{\{ package_name \}\}", "", line).count("{")
    ]
    assert wrong == []

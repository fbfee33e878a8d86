"""Every variant renders completely, parses, and passes its own ruff (fast tier); its
post-copy task locks dependencies that match the answers (build tier: `uv lock` resolves)."""

from __future__ import annotations

import random
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import harness
from harness import FAST_VARIANTS, Variant, run

RUFF = str(Path(sys.prefix) / "bin" / "ruff")

# What is left of Jinja after GitHub expressions (`${{ ... }}`) are set aside. A lone `}}`
# is legitimate (nested dict literals), an opening delimiter never is.
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
JINJA_LEFTOVER = re.compile(r"\{\{|\{%|%\}|\{#")

# The answers of the questions Variant.answers() does not set, as copier.yml defaults them.
DEFAULT_ANSWERS = {
    "project_name": "My Service",
    "project_slug": "my-service",
    "package_name": "my_service",
    "description": "A production-grade Python web service.",
    "author_name": "Your Name",
    "author_email": "you@example.com",
    "realtime": False,
}

# `_commit` too when the template is rendered through git (test_interactive.py checks it).
ANSWER_KEYS = {
    "_src_path",
    "project_name",
    "project_slug",
    "package_name",
    "description",
    "author_name",
    "author_email",
    "python_version",
    "framework",
    "database",
    "include_example_api",
    "auth",
    "free_threading",
    "ci",
}


@pytest.fixture(scope="module", params=FAST_VARIANTS, ids=lambda v: v.id)
def rendered(request: pytest.FixtureRequest) -> tuple[Variant, Path]:
    """The render of each variant (tasks skipped), shared by the checks below."""
    variant: Variant = request.param
    return variant, harness.rendered(variant)


@pytest.fixture(scope="module", params=FAST_VARIANTS, ids=lambda v: v.id)
def locked(request: pytest.FixtureRequest) -> tuple[Variant, Path]:
    """The render of each variant after its post-copy task (uv lock, git init), as a user who
    trusts the template gets it."""
    variant: Variant = request.param
    return variant, harness.locked(variant)


def project_files(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts
    )


def test_no_unrendered_jinja(rendered: tuple[Variant, Path]) -> None:
    _, root = rendered
    for path in project_files(root):
        relative = path.relative_to(root)
        assert not JINJA_LEFTOVER.search(str(relative)), relative
        assert path.suffix != ".jinja", relative
        if path.name == "uv.lock":
            continue
        text = GITHUB_EXPRESSION.sub("", path.read_text(encoding="utf-8"))
        assert not JINJA_LEFTOVER.search(text), f"unrendered Jinja in {relative}"


def test_config_files_parse(rendered: tuple[Variant, Path]) -> None:
    _, root = rendered
    files = project_files(root)
    for path in files:
        if path.suffix == ".toml" or path.name == "uv.lock":
            tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix in {".yml", ".yaml"}:
            assert yaml.safe_load(path.read_text(encoding="utf-8")) is not None, path


SHARED_MODULES = [
    "__init__.py",
    "__main__.py",
    "api.py",  # each framework's own
    "cli.py",
    "db.py",  # each framework's own
    "dberrors.py",
    "errors.py",  # each framework's own
    "framework.py",  # each framework's own
    "health.py",  # each framework's own
    "logging.py",
    "middleware.py",
    "ndjson.py",
    "openapi.py",
    "probes.py",
    "problems.py",
    "ratelimit.py",
    "settings.py",
    "validators.py",
]
FRAMEWORK_MODULES = {
    "fastapi": [
        "app.py",
        "docs.py",
        "migrations/env.py",
        "migrations/script.py.mako",
        "migrations/versions/0001_initial.py",
    ],
    "django": [
        "config/settings.py",
        "config/urls.py",
        "config/asgi.py",
        "config/database.py",
    ],
}
EXAMPLE_MODULES = {
    "fastapi": ["items/models.py", "items/schemas.py", "items/service.py", "items/routes.py"],
    "django": [
        "items/models.py",
        "items/schemas.py",
        "items/api.py",
        "items/apps.py",
        "items/migrations/0001_initial.py",
    ],
}
OTHER_FRAMEWORK = {"fastapi": "django", "django": "fastapi"}


def test_expected_files(rendered: tuple[Variant, Path]) -> None:
    variant, root = rendered
    package = root / "src" / "my_service"
    framework = variant.framework
    for name in SHARED_MODULES + FRAMEWORK_MODULES[framework]:
        assert (package / name).is_file(), name
    for name in FRAMEWORK_MODULES[OTHER_FRAMEWORK[framework]]:
        assert not (package / name).exists(), f"{name} belongs to the other framework"
    for name in EXAMPLE_MODULES[framework]:
        assert (package / name).is_file() == variant.include_example_api, name
    for name in (
        "README.md",
        ".gitignore",
        ".env.example",
        ".pre-commit-config.yaml",
        ".github/workflows/ci.yml",
        "tests/conftest.py",
        "tests/test_health.py",
        "tests/test_errors.py",
        "tests/test_logging.py",
        "tests/test_openapi.py",
    ):
        assert (root / name).is_file(), name
    assert (root / "tests" / "test_items.py").is_file() == variant.include_example_api
    # uv (and pyenv) run the project on its oldest supported Python, not the newest they find.
    assert (root / ".python-version").read_text() == f"{variant.python_version}\n"
    is_django = framework == "django"
    assert (root / "manage.py").is_file() == is_django
    assert (root / "tests" / "test_django.py").is_file() == is_django
    has_admin = is_django and variant.django_admin
    assert (root / "tests" / "test_admin.py").is_file() == has_admin
    assert (package / "items" / "admin.py").is_file() == (has_admin and variant.include_example_api)
    assert (package / "config" / "admin_site.py").is_file() == has_admin
    assert ("django.contrib.admin" in _text(package / "config" / "settings.py")) == has_admin
    assert (root / ".env").is_file() == is_django  # Django's development secret key
    assert (root / "tests" / "test_units.py").is_file()
    assert (root / "scripts" / "check_free_threading.py").is_file() == variant.free_threading
    assert (root / "tests" / "test_free_threading.py").is_file() == variant.free_threading
    # Real-time events: the shared connection handling, each framework's endpoint, the tests.
    assert (package / "realtime.py").is_file() == variant.realtime
    assert (package / "items" / "events.py").is_file() == variant.realtime
    fastapi_events = variant.realtime and framework == "fastapi"
    assert (package / "broker.py").is_file() == fastapi_events
    redis_broker = fastapi_events and variant.broker == "redis"
    assert (package / "redis_broker.py").is_file() == redis_broker
    assert (package / "config" / "routing.py").is_file() == (variant.realtime and is_django)
    assert (root / "tests" / "test_realtime.py").is_file() == variant.realtime


def _text(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def test_no_empty_directories(rendered: tuple[Variant, Path]) -> None:
    _, root = rendered
    empty = [
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_dir() and ".git" not in path.relative_to(root).parts and not any(path.iterdir())
    ]
    assert empty == []


def test_secret_key_lives_in_the_git_ignored_env_only(rendered: tuple[Variant, Path]) -> None:
    variant, root = rendered
    if variant.framework != "django":
        assert not (root / ".env").exists()
        return
    [line] = [
        line
        for line in (root / ".env").read_text().splitlines()
        if line.startswith("MY_SERVICE_SECRET_KEY=")
    ]
    key = line.split("=", 1)[1]
    assert len(key) >= 50
    assert len(set(key)) > 16  # 64 draws from 64 characters
    assert key not in (root / ".copier-answers.yml").read_text()
    # The service honours that key only with DEBUG on, which .env sets for development.
    assert "MY_SERVICE_DEBUG=true" in (root / ".env").read_text().splitlines()


def test_secret_key_comes_from_the_operating_systems_csprng(tmp_path: Path) -> None:
    """Python's `random` (Jinja's `random` filter) replays its sequence from a seed; the key
    must not: two renders from the same seed draw different keys."""
    keys = []
    for copy in ("one", "two"):
        random.seed(0)
        root = harness.render(tmp_path / copy, framework="django")
        keys.append(re.search(r"^MY_SERVICE_SECRET_KEY=(.+)$", _text(root / ".env"), re.M))
    first, second = (key.group(1) if key else None for key in keys)
    assert first
    assert second
    assert first != second


def test_dependencies_match_answers(rendered: tuple[Variant, Path]) -> None:
    variant, root = rendered
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0] for dep in project["dependencies"]}
    assert {"granian", "structlog", "pydantic-settings"} <= names
    if variant.framework == "fastapi":
        assert {"fastapi", "sqlalchemy", "alembic"} <= names
        assert ("asyncpg" in names) == (variant.database == "postgresql")
        assert ("aiosqlite" in names) == (variant.database == "sqlite")
        assert "sqlalchemy[asyncio]>=2.1" in project["dependencies"]
    else:
        assert {"django", "django-ninja"} <= names
        assert ("psycopg" in names) == (variant.database == "postgresql")
    # These re-enable the GIL or have no free-threaded wheels.
    assert not names & {"orjson", "psycopg-binary", "uvloop", "daphne", "hiredis"}
    redis = variant.realtime and variant.broker == "redis"
    fastapi = variant.framework == "fastapi"
    assert {"redis", "limits"} <= names  # the rate limits' counters, in Redis if configured
    assert ("channels" in names) == (variant.realtime and not fastapi)
    assert ("channels-redis" in names) == (redis and not fastapi)
    dev = tomllib.loads((root / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    assert any(dep.startswith("websockets") for dep in dev) == variant.realtime
    assert project["requires-python"] == f">={variant.python_version}"


@pytest.mark.build
def test_post_copy_task_locks_dependencies_that_match_answers(
    locked: tuple[Variant, Path],
) -> None:
    variant, root = locked
    assert (root / ".git" / "HEAD").is_file()
    if variant.framework == "django":  # the development secret key is never committed
        assert run(root, "git", "check-ignore", ".env").stdout.strip() == ".env"
    lock = tomllib.loads((root / "uv.lock").read_text())
    versions = {package["name"]: package["version"] for package in lock["package"]}
    assert not {"psycopg-binary", "daphne", "autobahn", "hiredis"} & set(versions)
    if variant.framework == "fastapi":
        assert tuple(int(part) for part in versions["sqlalchemy"].split(".")[:2]) >= (2, 1)
    else:
        assert int(versions["django"].split(".")[0]) >= 6


def test_answers_file_has_answers_only(rendered: tuple[Variant, Path]) -> None:
    variant, root = rendered
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text())
    # A question hidden by `when` (django_admin for FastAPI) is not recorded.
    expected = ANSWER_KEYS | ({"django_admin"} if variant.framework == "django" else set())
    # realtime is asked with the example API, the broker only when realtime is on.
    expected |= {"realtime"} if variant.include_example_api else set()
    expected |= {"broker"} if variant.realtime else set()
    assert set(answers) == expected
    # Each answer is the variant's, or the default of a question the variant leaves alone.
    given = DEFAULT_ANSWERS | variant.answers()
    assert {key: answers[key] for key in expected - {"_src_path"}} == {
        key: given[key] for key in expected - {"_src_path"}
    }


def test_ruff_clean(rendered: tuple[Variant, Path]) -> None:
    _, root = rendered
    run(root, RUFF, "check", "--no-cache", ".")
    run(root, RUFF, "format", "--no-cache", "--check", ".")


# --- The generated README --------------------------------------------------------------------


def markdown_lint(path: Path) -> list[str]:
    """pymarkdownlnt's findings on `path`, configured once for every README: all rules, GFM
    tables parsed as tables (text glued under a table becomes a row of it), lines up to the
    100 columns the README wraps at."""
    from pymarkdown.api import PyMarkdownApi

    api = PyMarkdownApi().enable_strict_configuration()
    api.enable_extension_by_identifier("markdown-tables")
    for length in ("line_length", "code_block_line_length", "table_line_length"):
        api.set_integer_property(f"plugins.md013.{length}", 100)
    result = api.scan_path(str(path))
    return [
        f"{failure.line_number}:{failure.column_number} {failure.rule_id} "
        f"{failure.rule_description} {failure.extra_error_information or ''}".rstrip()
        for failure in result.scan_failures
    ] + list(result.critical_errors)


def test_readme_markdown_is_clean(rendered: tuple[Variant, Path]) -> None:
    _, root = rendered
    assert markdown_lint(root / "README.md") == []


def readme_layout(readme: str) -> dict[str, str]:
    """The README's Layout block as {path: text}: a folder's path ends in `/`, an indented entry
    belongs to the folder above it, a line indented further continues the text above it."""
    block = re.search(r"^## Layout\n\n```text\n(.*?)^```$", readme, re.MULTILINE | re.DOTALL)
    assert block, "the README has no Layout block"
    entries: dict[str, str] = {}
    folder = path = ""
    for line in block.group(1).splitlines():
        indent = len(line) - len(line.lstrip())
        if indent >= 4:  # continued text
            entries[path] += " " + line.strip()
            continue
        name, _, text = line.strip().partition(" ")
        path = name if indent == 0 else folder + name
        folder = name if indent == 0 and name.endswith("/") else folder
        entries[path] = text.strip()
    return entries


def test_readme_layout_lists_the_package_as_rendered(rendered: tuple[Variant, Path]) -> None:
    _, root = rendered
    entries = readme_layout((root / "README.md").read_text())
    for path in entries:
        assert (root / path).is_dir() if path.endswith("/") else (root / path).is_file(), path
    # Every module and folder of the package is listed (its __init__.py goes without saying).
    package = "src/my_service/"
    listed = {path for path in entries if path.startswith(package) and path != package}
    present = {
        package + child.name + ("/" if child.is_dir() else "")
        for child in (root / package).iterdir()
        if child.name not in {"__init__.py", "__pycache__"}
    }
    assert listed == present
    # A folder whose text names modules names each of them, and no other.
    for path, text in entries.items():
        named = set(re.findall(r"\b\w+\.py\b", text))
        if path.endswith("/") and named:
            modules = {f.name for f in (root / path).glob("*.py") if f.name != "__init__.py"}
            assert named == modules, path


# Libraries a README may name, and the distribution each needs among the dependencies.
LIBRARIES = {
    "FastAPI": "fastapi",
    "SQLAlchemy": "sqlalchemy",
    "Alembic": "alembic",
    "asyncpg": "asyncpg",
    "Django": "django",
    "django-ninja": "django-ninja",
    "pytest-django": "pytest-django",
    "psycopg": "psycopg",
    "Channels": "channels",
    "Redis": "redis",
    "granian": "granian",
    "structlog": "structlog",
}


def test_readme_names_only_what_the_project_has(rendered: tuple[Variant, Path]) -> None:
    _, root = rendered
    readme = (root / "README.md").read_text()
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    dependencies = [
        dependency.lower()
        for dependency in pyproject["project"]["dependencies"]
        + pyproject["dependency-groups"]["dev"]
    ]
    for name, distribution in LIBRARIES.items():
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", readme):
            assert any(distribution in dependency for dependency in dependencies), name
    # Files and folders it names outside the Layout (checked above), from the project's root.
    text = re.sub(r"^## Layout\n.*?^```\n", "", readme, flags=re.MULTILINE | re.DOTALL)
    for token in re.findall(r"\S+", text):
        token = token.strip("`(),:;").rstrip(".")
        if re.fullmatch(r"(src|scripts|tests)/[\w./-]+|[\w.-]+\.(py|toml|yml|example)", token):
            assert (root / token).exists(), token

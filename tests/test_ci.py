"""Generated CI: the matrix of every answer set, checked by actionlint, zizmor, GitLab's schema.

Also the free-threading readiness gate (scripts/check_free_threading.py): it passes on the
locked variants and fails when a locked package is not ready (build tier: it reads uv.lock).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import harness
from harness import FAST_VARIANTS, ROOT, Variant, run

BIN = Path(sys.prefix) / "bin"
PYTHON_VERSIONS = ("3.12", "3.13", "3.14")
NEWEST_STABLE = "3.15"


def expected_matrix(python_version: str, free_threading: bool) -> list[str]:
    versions = ["3.12", "3.13", "3.14", NEWEST_STABLE]
    stable = [
        v
        for v in versions
        if tuple(map(int, v.split("."))) >= tuple(map(int, python_version.split(".")))
    ]
    return stable + (["3.14t", "3.15t"] if free_threading else [])


COMBINATIONS = list(itertools.product(PYTHON_VERSIONS, (True, False), ("sqlite", "postgresql")))
GITHUB = [
    Variant(framework=fw, python_version=py, free_threading=ft, database=db, ci="github")
    for fw in ("fastapi", "django")
    for py, ft, db in COMBINATIONS
]
GITLAB = [
    Variant(python_version=py, free_threading=ft, database=db, ci="gitlab")
    for py, ft, db in COMBINATIONS
]
REALTIME = [
    Variant(realtime=True, broker=broker, database=db, ci=ci)
    for ci, db, broker in itertools.product(
        ("github", "gitlab"), ("sqlite", "postgresql"), ("memory", "redis")
    )
]
TEMPLATE_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
# The tests of the linters' findings run in one pytest-xdist worker: it lints once.
LINTED = pytest.mark.xdist_group("ci-files")


def ci_file(project: Path, ci: str) -> Path:
    if ci == "github":
        return project / ".github" / "workflows" / "ci.yml"
    return project / ".gitlab-ci.yml"


def lint_output(args: list[str], ok: set[int]) -> str:
    """A linter's report on many files at once (run in ROOT, to which it may give their paths
    relative); an exit status outside `ok` is its failure."""
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode in ok, f"{args[0]} exited {result.returncode}: {result.stderr}"
    return result.stdout


def reported(path: str) -> Path:
    """A file as a linter names it: absolute, or relative to ROOT."""
    return Path(os.path.normpath(ROOT / path))


@pytest.fixture(scope="session")
def findings() -> dict[Path, list[str]]:
    """What the linters say of each CI file of the combinations below (rendered once each):
    actionlint and zizmor of every GitHub workflow, the template repository's own included;
    GitLab's schema of every pipeline. Each linter runs once, on all of its files."""
    variants = GITHUB + GITLAB + REALTIME
    files = {ci_file(harness.rendered(v), v.ci): v.ci for v in variants}
    files[TEMPLATE_WORKFLOW] = "github"
    workflows = [str(path) for path, ci in files.items() if ci == "github"]
    pipelines = [str(path) for path, ci in files.items() if ci == "gitlab"]
    found: dict[Path, list[str]] = {path: [] for path in files}

    report = lint_output([str(BIN / "actionlint"), "-format", "{{json .}}", *workflows], {0, 1})
    for error in json.loads(report):
        found[reported(error["filepath"])].append(f"actionlint: {error['message']}")

    zizmor = [str(BIN / "zizmor"), "--offline", "--no-progress", "--format", "json", *workflows]
    for finding in json.loads(lint_output(zizmor, {0, *range(10, 15)})):
        # Each location names its file as given on the command line.
        local = [location["symbolic"]["key"]["Local"] for location in finding["locations"]]
        for path in {key.get("verbatim_path") or key["given_path"] for key in local}:
            found[reported(path)].append(f"zizmor: {finding['ident']}: {finding['desc']}")

    schema = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci"]
    report = lint_output([*schema, "--output-format", "json", *pipelines], {0, 1})
    result = json.loads(report)
    for error in result.get("errors", []) + result.get("parse_errors", []):
        found[reported(error["filename"])].append(f"GitLab schema: {error['message']}")
    return found


@LINTED
@pytest.mark.parametrize(("python_version", "free_threading", "database"), COMBINATIONS)
@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_github_workflow(
    findings: dict[Path, list[str]],
    framework: str,
    python_version: str,
    free_threading: bool,
    database: str,
) -> None:
    variant = Variant(
        framework=framework,
        python_version=python_version,
        free_threading=free_threading,
        database=database,
        ci="github",
    )
    project = harness.rendered(variant)
    path = project / ".github" / "workflows" / "ci.yml"
    assert not (project / ".gitlab-ci.yml").exists()
    assert findings[path] == []  # actionlint, zizmor

    text = path.read_text()
    workflow = yaml.safe_load(text)
    jobs = workflow["jobs"]
    test = jobs["test"]
    assert test["strategy"]["matrix"]["python"] == expected_matrix(python_version, free_threading)
    assert "3.13t" not in test["strategy"]["matrix"]["python"]
    assert test["strategy"]["fail-fast"] is False
    assert ("services" in test) == (database == "postgresql")
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    # Every action is pinned to a full commit SHA, its version in a comment.
    uses = re.findall(r"uses: (\S+)@(\S+) # (v[\d.]+)", text)
    assert uses
    assert len(uses) == text.count("uses:")
    assert all(re.fullmatch(r"[0-9a-f]{40}", sha) for _, sha, _ in uses)

    lint = " ".join(step.get("run", "") for step in jobs["lint"]["steps"])
    for command in ("uv lock --check", "ruff check", "ruff format --check"):
        assert command in lint
    assert ("check_free_threading.py" in lint) == free_threading
    assert "pip-audit" in " ".join(step.get("run", "") for step in jobs["audit"]["steps"])
    steps = {step.get("name"): step for step in test["steps"]}
    assert "uv sync --locked" in steps["Install"]["run"]
    if free_threading:
        gil = steps["The GIL stays off once the service is imported"]
        assert gil["if"] == "endsWith(matrix.python, 't')"
        assert "sys._is_gil_enabled()" in gil["run"]
        assert "PYTHON_GIL" not in str(test.get("env", {}))
        assert (
            "--parallel-threads"
            in steps["Tests in 4 threads at once (free-threaded builds)"]["run"]
        )
    else:
        assert "_is_gil_enabled" not in text


@LINTED
@pytest.mark.parametrize(("python_version", "free_threading", "database"), COMBINATIONS)
def test_gitlab_pipeline(
    findings: dict[Path, list[str]], python_version: str, free_threading: bool, database: str
) -> None:
    variant = Variant(
        python_version=python_version, free_threading=free_threading, database=database, ci="gitlab"
    )
    project = harness.rendered(variant)
    path = project / ".gitlab-ci.yml"
    assert not (project / ".github").exists()
    assert findings[path] == []  # GitLab's schema
    pipeline = yaml.safe_load(path.read_text())
    [matrix] = pipeline["test"]["parallel"]["matrix"]
    assert matrix["PYTHON"] == expected_matrix(python_version, free_threading)
    assert ("services" in pipeline["test"]) == (database == "postgresql")
    lint = " ".join(pipeline["lint"]["script"])
    assert "uv lock --check" in lint
    assert ("check_free_threading.py" in lint) == free_threading
    assert "pip-audit" in " ".join(pipeline["audit"]["script"])


@LINTED
@pytest.mark.parametrize("broker", ["memory", "redis"])
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_realtime_ci_has_the_services_its_tests_need(
    findings: dict[Path, list[str]], ci: str, database: str, broker: str
) -> None:
    variant = Variant(realtime=True, broker=broker, database=database, ci=ci)
    project = harness.rendered(variant)
    path = ci_file(project, ci)
    assert findings[path] == []  # actionlint and zizmor, or GitLab's schema
    if ci == "github":
        test = yaml.safe_load(path.read_text())["jobs"]["test"]
        services = set(test.get("services", {}))
        env = test["env"]
    else:
        test = yaml.safe_load(path.read_text())["test"]
        services = {service["alias"] for service in test.get("services", [])}
        env = test["variables"]
    expected = {"postgres"} if database == "postgresql" else set()
    assert services == expected | ({"redis"} if broker == "redis" else set())
    assert ("REDIS_URL" in env) == (broker == "redis")


def test_no_ci() -> None:
    project = harness.rendered(Variant(ci="none"))
    assert not (project / ".github").exists()
    assert not (project / ".gitlab-ci.yml").exists()


@LINTED
def test_the_template_repository_workflow(findings: dict[Path, list[str]]) -> None:
    assert findings[TEMPLATE_WORKFLOW] == []  # actionlint, zizmor


# The readiness gate, on the locks the post-copy task wrote (`uv lock`: build tier).

FREE_THREADED_VARIANTS = [v for v in FAST_VARIANTS if v.free_threading]


@pytest.mark.build
@pytest.mark.parametrize("variant", FREE_THREADED_VARIANTS, ids=lambda v: v.id)
def test_free_threading_gate_passes(variant: Variant) -> None:
    project = harness.locked(variant)
    report = run(project, sys.executable, "scripts/check_free_threading.py")
    assert "free-threading ready (3.14t, 3.15t)" in report.stdout
    one = run(project, sys.executable, "scripts/check_free_threading.py", "--python", "3.14t")
    assert "free-threading ready (3.14t)" in one.stdout
    for package in ("granian", "pydantic-core"):
        assert re.search(rf"^{package} \S+ +wheel", report.stdout, re.MULTILINE), package
    if variant.realtime:  # the new dependencies are covered too
        assert re.search(r"^websockets \S+ +wheel", report.stdout, re.MULTILINE)
        expected = {
            ("fastapi", "redis"): ["redis"],
            ("django", "memory"): ["channels"],
            ("django", "redis"): ["channels", "channels-redis", "redis"],
        }.get((variant.framework, variant.broker), [])
        for package in expected:
            assert re.search(rf"^{package} \S+ +pure", report.stdout, re.MULTILINE), package
        if variant.framework == "django" and variant.broker == "redis":
            assert re.search(r"^msgpack \S+ +wheel", report.stdout, re.MULTILINE)
    if variant.auth == "oidc":  # PyJWT, and cryptography's 3.14t and abi3t (3.15t) wheels
        assert re.search(r"^pyjwt \S+ +pure", report.stdout, re.MULTILINE)
        assert re.search(r"^cryptography \S+ +wheel", report.stdout, re.MULTILINE)


@pytest.mark.build
def test_free_threading_gate_fails_on_gaps(tmp_path: Path) -> None:
    project = harness.locked(Variant())
    lock = (project / "uv.lock").read_text()
    # A package with no free-threaded wheel, and SQLAlchemy 2.0 (its wheels re-enable the GIL).
    lock = re.sub(r'^ *\{ url = "[^"]*/granian-[^"]*-cp31[45]t-.*\n', "", lock, flags=re.MULTILINE)
    lock = re.sub(r'(name = "sqlalchemy"\nversion = )"2\.1\.\d+"', r'\1"2.0.44"', lock)
    doctored = tmp_path / "uv.lock"
    doctored.write_text(lock)
    script = str(project / "scripts" / "check_free_threading.py")
    failed = subprocess.run(
        [sys.executable, script, "--lock", str(doctored)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 1, failed.stdout
    assert re.search(r"granian \S+: no wheel for 3\.14t linux-x86_64", failed.stdout)
    assert "sqlalchemy 2.0.44: SQLAlchemy 2.0 wheels re-enable the GIL" in failed.stdout

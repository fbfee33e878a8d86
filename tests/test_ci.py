"""Generated CI: the matrix of every answer set, checked by actionlint, zizmor, GitLab's schema.

Also the free-threading readiness gate (scripts/check_free_threading.py): it passes on the
rendered variants and fails when a locked package is not ready.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from harness import FAST_VARIANTS, ROOT, Variant, render, run

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


@pytest.mark.parametrize(("python_version", "free_threading", "database"), COMBINATIONS)
@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_github_workflow(
    tmp_path: Path, framework: str, python_version: str, free_threading: bool, database: str
) -> None:
    project = render(
        tmp_path / "p",
        framework=framework,
        python_version=python_version,
        free_threading=free_threading,
        database=database,
        ci="github",
    )
    path = project / ".github" / "workflows" / "ci.yml"
    assert not (project / ".gitlab-ci.yml").exists()
    run(project, str(BIN / "actionlint"), str(path))
    run(project, str(BIN / "zizmor"), "--offline", "--no-progress", str(path))

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


@pytest.mark.parametrize(("python_version", "free_threading", "database"), COMBINATIONS)
def test_gitlab_pipeline(
    tmp_path: Path, python_version: str, free_threading: bool, database: str
) -> None:
    project = render(
        tmp_path / "p",
        python_version=python_version,
        free_threading=free_threading,
        database=database,
        ci="gitlab",
    )
    path = project / ".gitlab-ci.yml"
    assert not (project / ".github").exists()
    run(project, str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(path))
    pipeline = yaml.safe_load(path.read_text())
    [matrix] = pipeline["test"]["parallel"]["matrix"]
    assert matrix["PYTHON"] == expected_matrix(python_version, free_threading)
    assert ("services" in pipeline["test"]) == (database == "postgresql")
    lint = " ".join(pipeline["lint"]["script"])
    assert "uv lock --check" in lint
    assert ("check_free_threading.py" in lint) == free_threading
    assert "pip-audit" in " ".join(pipeline["audit"]["script"])


@pytest.mark.parametrize("broker", ["memory", "redis"])
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_realtime_ci_has_the_services_its_tests_need(
    tmp_path: Path, ci: str, database: str, broker: str
) -> None:
    project = render(tmp_path / "p", realtime=True, broker=broker, database=database, ci=ci)
    if ci == "github":
        path = project / ".github" / "workflows" / "ci.yml"
        run(project, str(BIN / "actionlint"), str(path))
        run(project, str(BIN / "zizmor"), "--offline", "--no-progress", str(path))
        test = yaml.safe_load(path.read_text())["jobs"]["test"]
        services = set(test.get("services", {}))
        env = test["env"]
    else:
        path = project / ".gitlab-ci.yml"
        schema = ("--builtin-schema", "vendor.gitlab-ci")
        run(project, str(BIN / "check-jsonschema"), *schema, str(path))
        test = yaml.safe_load(path.read_text())["test"]
        services = {service["alias"] for service in test.get("services", [])}
        env = test["variables"]
    expected = {"postgres"} if database == "postgresql" else set()
    assert services == expected | ({"redis"} if broker == "redis" else set())
    assert ("REDIS_URL" in env) == (broker == "redis")


def test_no_ci(tmp_path: Path) -> None:
    project = render(tmp_path / "p", ci="none")
    assert not (project / ".github").exists()
    assert not (project / ".gitlab-ci.yml").exists()


def test_the_template_repository_workflow() -> None:
    path = ROOT / ".github" / "workflows" / "ci.yml"
    run(ROOT, str(BIN / "actionlint"), str(path))
    run(ROOT, str(BIN / "zizmor"), "--offline", "--no-progress", str(path))


# The readiness gate, on the locks the fast tier rendered (the post-copy task ran `uv lock`).

FREE_THREADED_VARIANTS = [v for v in FAST_VARIANTS if v.free_threading]


@pytest.mark.parametrize("variant", FREE_THREADED_VARIANTS, ids=lambda v: v.id)
def test_free_threading_gate_passes(copie_session, variant: Variant) -> None:
    result = copie_session.copy(extra_answers=variant.answers(), vcs_ref="HEAD")
    project = result.project_dir
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


def test_free_threading_gate_fails_on_gaps(copie_session, tmp_path: Path) -> None:
    result = copie_session.copy(extra_answers=Variant().answers(), vcs_ref="HEAD")
    project = result.project_dir
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

"""Mutation testing of the generated suites: mutmut makes small defects in a render's service
code, one at a time, and the render's own tests must fail on each.

Long (tens of minutes per framework on two cores), so not part of `uv run pytest`: run it with
`uv run pytest -m mutation`. docs/testing.md publishes the scores; a score below the published
one fails here, and the test prints every surviving mutant (`mutmut show NAME` in the render,
under pytest's temporary directory, shows its diff).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import harness
from harness import ROOT, Variant

pytestmark = [pytest.mark.mutation, pytest.mark.build]

MUTMUT = "mutmut>=3.8,<4"
VARIANTS = [Variant(framework="fastapi"), Variant(framework="django")]


def published_score(framework: str) -> float:
    """The score docs/testing.md publishes for `framework`, in percent."""
    table = (ROOT / "docs" / "testing.md").read_text()
    name = {"fastapi": "FastAPI", "django": "Django"}[framework]
    match = re.search(rf"^\| {name} \|.*?\| ([0-9.]+) ?% \|$", table, re.M)
    assert match, f"docs/testing.md publishes no score for {name} yet: publish this run's"
    return float(match.group(1))


def mutmut(project: harness.Project, *args: str) -> str:
    command = [harness.uv(), "run", "--with", MUTMUT, "mutmut", *args]
    return harness.run(project.path, *command, env=project.env, timeout=4 * 3600).stdout


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.framework)
def test_generated_tests_kill_the_mutants(variant: Variant, tmp_path: Path) -> None:
    project = harness.build(variant, tmp_path / "service")
    mutmut(project, "run", "--max-children", "2")
    mutmut(project, "export-cicd-stats")
    stats = json.loads((project.path / "mutants" / "mutmut-cicd-stats.json").read_text())
    # Caught: a test failed, or hung past mutmut's timeout. Missed: the tests that reach the
    # mutant all passed. Not reached: no test calls the function in pytest's process (it runs
    # at import, or only in a process a test starts): reported apart (docs/testing.md).
    caught = stats["killed"] + stats["timeout"]
    missed = stats["survived"] + stats["suspicious"]
    score = 100 * caught / (caught + missed)
    survivors = [
        line.strip()
        for line in mutmut(project, "results", "--all", "true").splitlines()
        if line.rstrip().endswith(("survived", "no tests"))
    ]
    print(
        f"{variant.framework}: {stats['total']} mutants, {caught} caught, {missed} missed, "
        f"{stats['no_tests']} not reached: {score:.1f} %"
    )
    print("\n".join(survivors))
    assert score >= published_score(variant.framework), "\n".join(survivors)

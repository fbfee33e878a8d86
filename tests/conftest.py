"""Fixtures shared by the template's tests; the helpers live in harness.py at the root."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import harness
from harness import Variant


@pytest.fixture(scope="session", autouse=True)
def _harness_scratch(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The harness keeps its shared renders and builds in pytest's temporary directory."""
    harness.use_scratch(tmp_path_factory.getbasetemp() / "harness")


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL server, dropped afterwards."""
    name = harness.create_database()
    yield name
    harness.drop_database(name)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`), the tests of one variant run in one worker: it
    renders, locks and installs that variant once for all of them (and serves a contract
    deployment once). The mutation tests (an hour) run only when `-m` names them."""
    if "mutation" not in (config.option.markexpr or ""):
        deselected = [item for item in items if item.get_closest_marker("mutation")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("mutation")]
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        variants = [param for param in params if isinstance(param, Variant)]
        if variants:
            item.add_marker(pytest.mark.xdist_group(variants[0].id))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test whose pytest-xdist group did not apply fails: its variant would be built, and its
    deployment served, by every worker that gets one of its tests."""
    grouped = item.get_closest_marker("xdist_group") is not None
    if grouped and getattr(item.config.option, "loadgroup", False) and "@" not in item.nodeid:
        pytest.fail(
            f"pytest-xdist ignored the xdist_group of this test (pytest {pytest.__version__}): "
            "see the pytest pin in pyproject.toml"
        )

"""Fixtures shared by the template's tests; the helpers live in harness.py at the root."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import harness


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

"""Fixtures shared by the template's tests (helpers live in harness.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from harness import POSTGRES_SERVER


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL server, dropped afterwards."""
    import psycopg  # only the build tier needs it

    name = f"cps_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

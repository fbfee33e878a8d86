"""Property-based fuzzing with schemathesis, against each variant's own OpenAPI schema."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import Server, run

pytestmark = pytest.mark.contract

SCHEMATHESIS = str(Path(sys.prefix) / "bin" / "schemathesis")


def test_no_server_error_and_no_schema_violation(service: Server, tmp_path: Path) -> None:
    result = run(
        tmp_path,
        SCHEMATHESIS,
        "run",
        f"{service.url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        "40",  # per operation: bounded in count...
        "--request-timeout",
        "10",  # ...and in time
        "--seed",
        "20261125",  # reproducible
        "--generation-database",
        ":memory:",
        "--no-color",
        timeout=600,
    )
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout

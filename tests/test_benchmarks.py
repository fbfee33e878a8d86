"""The benchmark scripts run end to end (with tiny counts: no figure here means anything)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import export


def test_export_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results"
    assert (
        export.main(
            ["--sizes", "300", "--repeats", "1", "--variants", "fastapi-sqlite", "--out", str(out)]
        )
        == 0
    )
    results = json.loads((out / "export.json").read_text())
    assert {(r["mode"], r["rows"]) for r in results} == {("stream", 300), ("naive", 300)}
    assert all(r["rows_per_s"]["median"] > 0 for r in results)
    table = (out / "export.md").read_text()
    assert "| fastapi + sqlite | 300 |" in table


def test_benchmark_runner_quick(tmp_path: Path) -> None:
    """`python -m benchmarks --quick`: every section runs and lands in the report."""
    from benchmarks.__main__ import main

    report = tmp_path / "benchmarks.md"
    assert main(["--quick", "--out", str(report)]) == 0
    text = report.read_text()
    for heading in (
        "## 1. Render",
        "## 2. Time to green",
        "## 3. Throughput and latency",
        "## 4. Memory",
        "## 5. Free-threaded CPython",
        "## Streaming export",
    ):
        assert heading in text, heading
    assert "fastapi_template (s3rius)" in text
    assert "bare FastAPI" in text
    assert "bare django-ninja" in text
    assert (tmp_path / "benchmarks" / "render.png").stat().st_size > 1000
    assert (tmp_path / "benchmarks" / "throughput.png").stat().st_size > 1000

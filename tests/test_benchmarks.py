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

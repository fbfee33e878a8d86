"""The benchmarks: the published page is the report of its published results (fast), and the
scripts run end to end with tiny counts (build tier: they install, serve and load services;
no figure they produce means anything)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import export, report
from benchmarks.__main__ import PAGE, main
from harness import Variant

# With the build and contract tests of the default answers (one pytest-xdist worker): the load
# section serves the same installed render (harness.installed).
SHARED = pytest.mark.xdist_group(Variant().id)


def test_page_is_the_report_of_the_published_results(tmp_path: Path) -> None:
    """`--report-only` rewrites docs/benchmarks.md from docs/benchmarks.json unchanged: no
    figure on the page was edited by hand, no result is missing from it."""
    shutil.copy(PAGE.with_suffix(".json"), tmp_path / "benchmarks.json")
    assert main(["--report-only", "--out", str(tmp_path / "benchmarks.md")]) == 0
    assert (tmp_path / "benchmarks.md").read_text() == PAGE.read_text()
    assert (tmp_path / "benchmarks" / "render.png").stat().st_size > 1000
    assert (tmp_path / "benchmarks" / "throughput.png").stat().st_size > 1000


def test_throughput_plot_is_readable() -> None:
    """One panel per endpoint (a target without the endpoint has no bar, not a bar of 0), the
    `live` panel on a log axis (the bare ASGI app is 60 times Django), units on every axis and
    every median written beside its bar."""
    import matplotlib.pyplot as plt

    data = json.loads(PAGE.with_suffix(".json").read_text())
    load = data["load"]
    figure = report.throughput_figure(load, data["repeats"])
    try:
        axes = figure.get_axes()
        assert [axis.get_title(loc="left").split(":")[0] for axis in axes] == list(report.ENDPOINTS)
        assert axes[0].get_xscale() == "log"
        for axis, endpoint in zip(axes, report.ENDPOINTS, strict=True):
            assert "requests/s" in axis.get_xlabel()
            names = [n for n in load if endpoint in load[n]]
            assert [label.get_text() for label in axis.get_yticklabels()] == names
            medians = [f"{load[n][endpoint]['rps']['median']:,.0f}" for n in names]
            assert [text.get_text() for text in axis.texts] == medians
    finally:
        plt.close(figure)


def test_the_report_refuses_a_page_it_cannot_fill() -> None:
    data = json.loads(PAGE.with_suffix(".json").read_text())
    made = report.pieces(data)
    page = PAGE.read_text()
    with pytest.raises(ValueError, match="makes nothing for"):
        report.fill(page + "\nAnd <!-- bench:unknown -->1<!-- /bench:unknown -->.\n", made)
    with pytest.raises(ValueError, match="no markers for"):
        report.fill(page.replace("<!-- bench:export-table -->", "<!-- export-table -->"), made)
    with pytest.raises(ValueError, match="starts with a figure's marker"):
        report.fill(
            page.replace("median of <!-- bench:repeats", "median of\n<!-- bench:repeats"), made
        )


@pytest.mark.build
@SHARED
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


@pytest.mark.build
@SHARED
def test_benchmark_runner_quick(tmp_path: Path) -> None:
    """`python -m benchmarks --quick`: every section runs and lands in the report."""
    out = tmp_path / "benchmarks.md"
    assert main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
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
    # The tables are this run's: its own results, one repeat, flagged as such.
    data = json.loads(out.with_suffix(".json").read_text())
    assert (data["repeats"], data["quick"]) == (1, True)
    assert set(data) >= {"render", "green", "load", "free_threading", "export"}
    assert report.render_table(data["render"]) in text
    assert report.load_table(data["load"]) in text
    assert "| django + sqlite | 200 |" in report.export_table(data["export"])
    assert report.export_table(data["export"]) in text
    assert "A `--quick` run: tiny counts, meaningless figures." in text

"""docs/benchmarks.md from the results of a run (docs/benchmarks.json): tables, figures, plots.

The page's prose is written by hand. What a run measured goes between markers: a table or a
block as `<!-- bench:NAME -->` ... `<!-- /bench:NAME -->` on lines of their own, a figure
within a sentence as `<!-- bench:NAME -->3.34<!-- /bench:NAME -->` (never at the start of a
line). Filling the page replaces what is between each pair; a marker without a piece here, or
a piece without its marker, is an error, so that the page and this module cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER = re.compile(r"<!-- bench:(?P<name>[\w.-]+) -->(?P<body>.*?)<!-- /bench:(?P=name) -->", re.S)
BLOCK = re.compile(r"<!-- /?bench:[\w-]+ -->")  # a block's marker: a line of its own


def fmt(stats: dict[str, float], digits: int = 0) -> str:
    """A median with its min and max: `3,665 (3,463-3,791)`."""

    def num(value: float) -> str:
        return f"{value:,.{digits}f}"

    return f"{num(stats['median'])} ({num(stats['min'])}-{num(stats['max'])})"


# --- Tables ----------------------------------------------------------------------------------


def table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_table(rows: list[dict[str, Any]]) -> str:
    s3 = rows[-1]["seconds"]["median"]
    return table(
        ["Template", "What runs", "Wall time (s)", "vs fastapi_template", "Peak memory (MiB)"],
        ["---", "---", "---:", "---:", "---:"],
        [
            [
                row["name"],
                row["what"],
                fmt(row["seconds"], 2),
                f"{row['seconds']['median'] / s3:.2f}x",
                fmt(row["peak_mib"], 0),
            ]
            for row in rows
        ],
    )


def green_table(rows: list[dict[str, Any]]) -> str:
    last = rows[-1]
    s3 = last["seconds"]["median"] if last["name"].startswith("fastapi_template") else None
    return table(
        ["Variant", "Seconds", "vs fastapi_template"],
        ["---", "---:", "---:"],
        [
            [
                row["name"],
                fmt(row["seconds"], 1),
                f"{row['seconds']['median'] / s3:.2f}x" if s3 else "-",
            ]
            for row in rows
        ],
    )


def baseline_of(name: str, endpoint: str) -> str | None:
    """The baseline a row of sections 3 and 4 is compared with: the bare framework for `live`,
    s3rius's service on the same server for the database read and write."""
    if not name.startswith("ours ") or (endpoint != "live" and "no access line" in name):
        return None
    if endpoint == "live":
        return "bare FastAPI" if name.startswith("ours fastapi") else "bare django-ninja"
    return "s3rius on granian"


def vs_baseline(load: dict[str, Any], name: str, endpoint: str) -> str:
    base = baseline_of(name, endpoint)
    if base is None or base not in load or endpoint not in load[base]:
        return "-"
    ratio = load[name][endpoint]["rps"]["median"] / load[base][endpoint]["rps"]["median"]
    return f"{ratio:.2f}x {base}"


def load_table(load: dict[str, Any]) -> str:
    rows = [
        [
            name,
            endpoint,
            fmt(result[endpoint]["rps"]),
            vs_baseline(load, name, endpoint),
            fmt(result[endpoint]["p50_ms"], 2),
            fmt(result[endpoint]["p99_ms"], 2),
        ]
        for name, result in load.items()
        for endpoint in ("live", "read", "write")
        if endpoint in result
    ]
    return table(
        ["Target", "Endpoint", "Requests/s", "vs baseline", "p50 (ms)", "p99 (ms)"],
        ["---", "---", "---:", "---:", "---:", "---:"],
        rows,
    )


def memory_table(load: dict[str, Any]) -> str:
    rows = []
    for name, r in load.items():
        # Idle against the bare framework; the peak (after the database load) against s3rius's.
        bare, s3 = baseline_of(name, "live"), baseline_of(name, "read")
        idle = f"{r['idle_mib'] / load[bare]['idle_mib']:.2f}x" if bare in load else "-"
        peak = f"{r['peak_mib'] / load[s3]['peak_mib']:.2f}x" if s3 in load else "-"
        rows.append([name, f"{r['idle_mib']:.1f}", idle, f"{r['peak_mib']:.1f}", peak])
    return table(
        [
            "Target",
            "Idle (MiB)",
            "Idle vs bare framework",
            "Peak under load (MiB)",
            "Peak vs s3rius's service",
        ],
        ["---", "---:", "---:", "---:", "---:"],
        rows,
    )


def free_threading_table(results: dict[str, Any] | None) -> str:
    if results is None:
        return "_Not measured in this run: FT_PYTHON named no free-threaded interpreter._"
    return table(
        ["Mode", "Requests/s (read)", "p99 (ms)"],
        ["---", "---:", "---:"],
        [
            [name, fmt(result["read"]["rps"]), fmt(result["read"]["p99_ms"], 2)]
            for name, result in results.items()
        ],
    )


def export_table(results: list[dict[str, Any]]) -> str:
    """Each streamed export beside its naive baseline, with the ratios."""
    keyed = {(r["framework"], r["database"], r["rows"], r["mode"]): r for r in results}

    def rate(r: dict[str, Any]) -> str:
        return fmt(r["rows_per_s"])

    def growth(r: dict[str, Any]) -> str:
        g = r["growth_mib"]
        return f"{g['median']:,.1f} MiB ({g['min']:,.1f}-{g['max']:,.1f})"

    rows = []
    for (framework, kind, rows_, mode), stream in keyed.items():
        if mode != "stream":
            continue
        naive = keyed[(framework, kind, rows_, "naive")]
        speed = stream["rows_per_s"]["median"] / naive["rows_per_s"]["median"]
        memory = naive["growth_mib"]["median"] / max(stream["growth_mib"]["median"], 0.1)
        rows.append(
            [
                f"{framework} + {kind}",
                f"{rows_:,}",
                rate(stream),
                rate(naive),
                f"{speed:.2f}x",
                growth(stream),
                growth(naive),
                f"{memory:,.0f}x less",
            ]
        )
    return table(
        [
            "Variant",
            "Rows",
            "Streamed rows/s",
            "Naive rows/s",
            "Speed ratio",
            "Streamed peak growth",
            "Naive peak growth",
            "Memory ratio",
        ],
        ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"],
        rows,
    )


# --- Figures within the prose -------------------------------------------------------------


def figures(data: dict[str, Any]) -> dict[str, str]:
    """The figures the prose quotes, by name; "-" for one this run's data cannot give."""
    load = data["load"]
    rows = data["render"]

    def rps(name: str, endpoint: str = "live") -> float:
        return load[name][endpoint]["rps"]["median"]

    def ratio(value: Callable[[], float]) -> str:
        try:
            return f"{value():.2f}x"
        except (KeyError, ZeroDivisionError):
            return "-"

    def verdict(value: Callable[[], float], target: float) -> str:
        try:
            return "met" if value() >= target else "not met"
        except (KeyError, ZeroDivisionError):
            return "-"

    slowest = max(r["seconds"]["median"] for r in rows if "skip" in r["what"])
    startup = [r["seconds"]["median"] for r in rows if r["name"] == "Copier itself"]
    out = {
        "machine": data["machine"],
        "date": data["date"],
        "repeats": str(data["repeats"]),
        "render.slowest": f"{slowest:.2f}",
        "render.startup": f"{startup[0]:.2f}" if startup else "-",
        "render.template": f"{slowest - startup[0]:.2f}" if startup else "-",
        "green.fastapi": f"{data['green'][0]['seconds']['median']:.1f}",
    }
    for framework, bare in (("fastapi", "bare FastAPI"), ("django", "bare django-ninja")):
        ours, quiet = f"ours {framework} + sqlite", f"ours {framework} + sqlite, no access line"
        out |= {
            f"live.{framework}": ratio(lambda o=ours, b=bare: rps(o) / rps(b)),
            f"live.{framework}.verdict": verdict(lambda o=ours, b=bare: rps(o) / rps(b), 0.85),
            f"live.{framework}.asgi": ratio(lambda o=ours: rps(o) / rps("bare ASGI")),
            f"live.{framework}.quiet": ratio(lambda q=quiet, b=bare: rps(q) / rps(b)),
            f"read.{framework}": ratio(
                lambda o=ours: rps(o, "read") / rps("s3rius on granian", "read")
            ),
            f"read.{framework}.verdict": verdict(
                lambda o=ours: rps(o, "read") / rps("s3rius on granian", "read"), 2
            ),
        }
    try:
        ours, quiet = rps("ours fastapi + sqlite"), rps("ours fastapi + sqlite, no access line")
        out["access-line.us"] = f"{1e6 / ours - 1e6 / quiet:.0f}"
        out["bare-request.us"] = f"{1e6 / rps('bare FastAPI'):.0f}"
    except KeyError:
        out["access-line.us"] = out["bare-request.us"] = "-"
    out["write.fastapi"] = ratio(
        lambda: rps("ours fastapi + sqlite", "write") / rps("s3rius on granian", "write")
    )
    return out


def pieces(data: dict[str, Any]) -> dict[str, str]:
    """Every piece of the page that a run makes: tables as blocks, figures inline."""
    blocks = {
        "notice": "!!! warning\n    A `--quick` run: tiny counts, meaningless figures."
        if data.get("quick")
        else "",
        "render-table": render_table(data["render"]),
        "green-table": green_table(data["green"]),
        "load-table": load_table(data["load"]),
        "memory-table": memory_table(data["load"]),
        "free-threading-table": free_threading_table(data["free_threading"]),
        "export-table": export_table(data["export"]),
    }
    # Blank lines around a block: Markdown reads a table that follows a comment line as HTML.
    made = {name: f"\n\n{text}\n\n" if text else "\n" for name, text in blocks.items()}
    return made | figures(data)


def fill(page: str, made: dict[str, str]) -> str:
    """`page` with what is between each pair of markers replaced by its piece."""
    for number, line in enumerate(page.splitlines(), start=1):
        if line.lstrip().startswith("<!-- bench:") and not BLOCK.fullmatch(line):
            # Markdown would read the line as HTML, and end the paragraph or list it is in.
            raise ValueError(f"line {number} of the page starts with a figure's marker")
    found = [match.group("name") for match in MARKER.finditer(page)]
    if missing := sorted(set(found) - set(made)):
        raise ValueError(f"the page has markers this module makes nothing for: {missing}")
    if unused := sorted(set(made) - set(found)):
        raise ValueError(f"the page has no markers for: {unused}")

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        return f"<!-- bench:{name} -->{made[name]}<!-- /bench:{name} -->"

    return MARKER.sub(replace, page)


def write(data: dict[str, Any], out: Path, page: Path) -> None:
    """`page` (the hand-written prose) filled from `data` into `out`, its plots beside it."""
    text = fill(page.read_text(), pieces(data))
    plots(data, out.parent / "benchmarks")
    out.write_text(text)


def plots(data: dict[str, Any], directory: Path) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    rows = data["render"]
    figure, axis = plt.subplots(figsize=(9, 4))
    labels = [f"{r['name']}\n{r['what']}" for r in rows]
    medians = [r["seconds"]["median"] for r in rows]
    errors = [
        [m - r["seconds"]["min"] for m, r in zip(medians, rows, strict=True)],
        [r["seconds"]["max"] - m for m, r in zip(medians, rows, strict=True)],
    ]
    axis.barh(labels, medians, xerr=errors, color="#4051b5")
    axis.set_xlabel("seconds (median, min-max)")
    axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    figure.savefig(directory / "render.png", dpi=110)
    plt.close(figure)

    figure = throughput_figure(data["load"], data["repeats"])
    figure.savefig(directory / "throughput.png", dpi=110)
    plt.close(figure)


ENDPOINTS = {  # what each panel of the throughput plot shows, and its scale
    "live": ("live: GET /health/live (no database)", "log"),
    "read": ("read: GET one item", "linear"),
    "write": ("write: create one item", "linear"),
}


def throughput_figure(load: dict[str, Any], repeats: int) -> Any:
    """Requests/s, one panel per endpoint with only the targets measured on it: `live` spans
    two orders of magnitude (the bare ASGI app against Django), so its axis is logarithmic;
    every bar carries its median, and its whisker the min and max."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    measured = {e: [n for n in load if e in load[n]] for e in ENDPOINTS}
    figure, axes = plt.subplots(
        len(ENDPOINTS),
        figsize=(9, 1.3 + 0.3 * sum(map(len, measured.values()))),
        gridspec_kw={"height_ratios": [max(len(n), 1) for n in measured.values()]},
    )
    for axis, (endpoint, (title, scale)) in zip(axes, ENDPOINTS.items(), strict=True):
        names = measured[endpoint]
        stats = [load[n][endpoint]["rps"] for n in names]
        medians = [s["median"] for s in stats]
        whiskers = [[m - s["min"] for m, s in zip(medians, stats, strict=True)],
                    [s["max"] - m for m, s in zip(medians, stats, strict=True)]]  # fmt: skip
        bars = axis.barh(names, medians, xerr=whiskers, color="#4051b5", ecolor="#888")
        for bar, median, stat in zip(bars, medians, stats, strict=True):  # past the whisker
            y = bar.get_y() + bar.get_height() / 2
            axis.annotate(f"{median:,.0f}", (stat["max"], y), xytext=(4, 0),
                          textcoords="offset points", va="center", fontsize=7)  # fmt: skip
        axis.invert_yaxis()  # the table's order, top to bottom
        axis.set_xscale(scale)
        axis.set_xlim(100 if scale == "log" else 0, max(s["max"] for s in stats) * 1.6)
        axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        axis.set_title(title, fontsize=9, loc="left")
        axis.set_xlabel(
            f"requests/s, median of {repeats} runs (whisker: min-max)"
            + (", log scale" if scale == "log" else ""),
            fontsize=8,
        )
        axis.tick_params(axis="y", labelsize=7)
        axis.tick_params(axis="x", labelsize=7)
    figure.tight_layout()
    return figure

"""Every benchmark, in one run: `uv run python -m benchmarks` measures, then writes the page.

1. render: `copier copy` wall time and peak memory, beside s3rius's `fastapi_template`;
2. time to green: copy, `uv sync` (warm cache), the generated tests pass;
3. throughput and latency (wrk, loopback, fixed concurrency), beside a bare ASGI app, the bare
   framework and the service `fastapi_template` generates;
4. memory of one worker, idle and under load;
5. free-threading, when FT_PYTHON names a free-threaded interpreter;
and the streaming export (benchmarks/export.py). The results go to docs/benchmarks.json
(measure.py), the page docs/benchmarks.md is filled from them (report.py). `--quick` runs every
section once with tiny counts; `--report-only` rewrites the page from the last results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import export, measure, report
from harness import ROOT

PAGE = ROOT / "docs" / "benchmarks.md"  # the hand-written prose, with the markers to fill
OURS = [(fw, db) for fw in ("fastapi", "django") for db in ("sqlite", "postgresql")]
SECTIONS = ["render", "green", "load", "free_threading", "export"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the script")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run")
    parser.add_argument("--out", type=Path, default=PAGE, help="the page to write")
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        help="run only these; the others are taken from the results of an earlier run",
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite the report only")
    args = parser.parse_args(argv)
    results = args.out.with_suffix(".json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.report_only:  # the page and plots again, from the results of the last run
        report.write(json.loads(results.read_text()), args.out, PAGE)
        return 0

    # --quick: one short run of everything, on as few variants as still run every code path
    # (the load section needs both frameworks for its baselines), without warm-ups.
    variants = rendered = exported = OURS
    if args.quick:
        args.repeats, args.seconds = 1, 1
        variants = [("fastapi", "sqlite"), ("django", "sqlite")]
        rendered, exported = variants[:1], variants[1:]
    data: dict[str, Any] = json.loads(results.read_text()) if args.sections else {}
    data |= {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "repeats": args.repeats,
        "seconds": args.seconds,
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory(prefix="cps-bench-") as scratch:
        bench = measure.Run(Path(scratch), args.repeats, args.seconds, warm_up=not args.quick)
        sections: dict[str, Callable[[], Any]] = {
            "render": lambda: measure.render(bench, rendered),
            "green": lambda: measure.green(bench, rendered),
            "load": lambda: measure.load(bench, variants),
            "free_threading": lambda: measure.free_threading(bench),
            "export": lambda: export.run_export(
                [200] if args.quick else [100_000, 1_000_000],
                args.repeats,
                exported,
                bench.directory("export"),
            ),
        }
        for name, section in sections.items():
            if args.sections and name not in args.sections:
                continue
            print(f"benchmark: {name}", flush=True)
            data[name] = section()
            results.write_text(json.dumps(data, indent=2) + "\n")  # kept if a later one fails
    report.write(data, args.out, PAGE)
    print(f"wrote {args.out} and its plots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

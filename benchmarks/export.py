"""The streaming export against a naive load-everything baseline: rows/s and peak memory.

For each framework x database, a service is rendered, installed and given a table of N items;
then `GET /api/v1/items/export` (a database cursor, as shipped) and a baseline route added for
the benchmark (every row loaded into memory, then serialized) each export the whole table from
a freshly started worker. Reported: rows per second, and the worker's peak memory growth
(VmHWM at the end minus VmRSS before the request).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import harness
from benchmarks.lib import Stats
from harness import Project, Variant, run, service_env

VARIANTS = [(fw, db) for fw in ("fastapi", "django") for db in ("sqlite", "postgresql")]

# The baseline: what an export looks like without a cursor. Added to the rendered copy only.
NAIVE_FASTAPI = """
from fastapi import Request, Response
from sqlalchemy import select

from .items.models import Item
from .items.schemas import ItemRead


async def export_naive(request: Request) -> Response:
    async with request.app.state.sessionmaker() as session:
        items = (await session.scalars(select(Item).order_by(Item.id))).all()
    lines = [ItemRead.model_validate(item).model_dump_json().encode() for item in items]
    return Response(b"\\n".join(lines) + b"\\n", media_type="application/x-ndjson")
"""
NAIVE_DJANGO = """
from django.http import HttpRequest, HttpResponse

from .items.models import Item
from .items.schemas import ItemRead


async def export_naive(request: HttpRequest) -> HttpResponse:
    items = [item async for item in Item.objects.order_by("id")]  # the queryset caches all
    lines = [ItemRead.model_validate(item).model_dump_json().encode() for item in items]
    return HttpResponse(b"\\n".join(lines) + b"\\n", content_type="application/x-ndjson")
"""
NAIVE_PATH = "/bench/export-naive"
MODES = {"stream": "/api/v1/items/export", "naive": NAIVE_PATH}


def add_baseline(project: Path, framework: str) -> None:
    package = project / "src" / "my_service"
    if framework == "fastapi":
        (package / "bench_naive.py").write_text(NAIVE_FASTAPI)
        app = package / "app.py"
        app.write_text(
            app.read_text().replace(
                "    return app\n",
                "    from .bench_naive import export_naive\n\n"
                f'    app.add_api_route("{NAIVE_PATH}", export_naive)\n    return app\n',
            )
        )
    else:
        (package / "bench_naive.py").write_text(NAIVE_DJANGO)
        urls = package / "config" / "urls.py"
        text = urls.read_text().replace(
            "from ..api import api\n",
            "from ..api import api\nfrom ..bench_naive import export_naive\n",
        )
        text = text.replace(
            '    path("", api.urls),',
            f'    path("{NAIVE_PATH[1:]}", export_naive),\n    path("", api.urls),',
        )
        urls.write_text(text)


def export_once(project: Project, env: dict[str, str], path: str, rows: int, log: Path) -> dict:
    """One export from a freshly started worker: rows/s, and the worker's peak memory growth."""
    server = harness.serve(project, env, log)
    server.grace = 5.0  # its stop is not measured
    with server.start():
        before = server.rss("VmRSS")
        start = time.perf_counter()
        count = 0
        with httpx.stream("GET", server.url + path, timeout=600, trust_env=False) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                count += bool(line)
        seconds = time.perf_counter() - start
        peak = server.rss("VmHWM")
    if count != rows:
        msg = f"{path} exported {count} rows, expected {rows}"
        raise RuntimeError(msg)
    return {"rows_per_s": rows / seconds, "growth_mib": max(0, peak - before) / 2**20}


def run_export(
    sizes: list[int], repeats: int, variants: list[tuple[str, str]], scratch: Path
) -> list[dict[str, Any]]:
    """Each variant (a private copy, with the baseline route added) exports tables of each
    size, streamed and naive, `repeats` times each."""
    results = []
    for framework, kind in variants:
        name = f"export-{framework}-{kind}"
        project = harness.build(Variant(framework=framework, database=kind), scratch / name)
        add_baseline(project.path, framework)
        with harness.database(kind, scratch / f"{name}-db", prefix="cps_bench") as db:
            settings = service_env(project, db.url(framework), workers="1", log_level="WARNING")
            run(project.path, project.bin("my-service"), "migrate", env=settings)
            seeded = 0
            for rows in sorted(sizes):
                db.seed_items(seeded + 1, rows)
                seeded = rows
                for mode, path in MODES.items():
                    log = scratch / f"{name}.log"
                    runs = [export_once(project, settings, path, rows, log) for _ in range(repeats)]
                    results.append(
                        {
                            "framework": framework,
                            "database": kind,
                            "rows": rows,
                            "mode": mode,
                            "rows_per_s": Stats([r["rows_per_s"] for r in runs]).as_dict(),
                            "growth_mib": Stats([r["growth_mib"] for r in runs]).as_dict(),
                        }
                    )
                    print(json.dumps(results[-1]), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import export_table

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[f"{fw}-{db}" for fw, db in VARIANTS],
        help="framework-database pairs (default: all four)",
    )
    args = parser.parse_args(argv)
    variants = [tuple(name.split("-", 1)) for name in args.variants]
    with tempfile.TemporaryDirectory(prefix="cps-bench-export-") as scratch:
        results = run_export(args.sizes, args.repeats, variants, Path(scratch))  # type: ignore[arg-type]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "export.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "export.md").write_text(export_table(results) + "\n")
    print(export_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The measurements of `python -m benchmarks`, one function per section of docs/benchmarks.md.

Each returns plain data (medians, min and max), which `__main__` writes to JSON and report.py
turns into the page's tables and plots. The baselines are measured in the same run: s3rius's
`fastapi_template` (installed from the package registry into a venv of its own), a bare ASGI
app, bare FastAPI and bare django-ninja (benchmarks/apps).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from benchmarks.lib import Stats, ensure_wrk, timed, under_load
from harness import ROOT, Server, Variant, clean_env, run, service_env, uv

APPS = Path(__file__).parent / "apps"
S3_ARGS = [
    "--quiet", "--force", "--api-type", "rest", "--db", "sqlite", "--orm", "sqlalchemy",
    "--ci", "none", "--migrations", "--dummy", "--routers",
]  # fmt: skip
GRACE = 5.0  # seconds a served target gets to stop: its stop is not measured


@dataclass
class Run:
    """What one run measures, how often, and what it shares between its sections."""

    scratch: Path
    repeats: int = 3
    seconds: int = 5  # of wrk's load per measurement
    warm_up: bool = True  # a second of load before each measured endpoint
    # s3rius's generator, installed once, and each project it generated (the newest is the one
    # the load section serves), with the seconds that took.
    s3_generator: list[Path] = field(default_factory=list)
    s3_generated: list[tuple[Path, float]] = field(default_factory=list)

    def under_load(
        self, server: Server, endpoints: dict[str, tuple[str, Path | None]]
    ) -> dict[str, Any]:
        return under_load(server, endpoints, self.seconds, self.repeats, self.warm_up)

    def directory(self, name: str) -> Path:
        path = self.scratch / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def s3_generate(self, home: Path) -> tuple[Path, float, int]:
        """One generation of s3rius's service in `home`: its project, wall seconds, peak RSS."""
        if not self.s3_generator:
            venv = self.scratch / "s3-venv"
            run(self.scratch, uv(), "venv", "--quiet", "--python", "3.13", str(venv))
            install = ("pip", "install", "--quiet", "--python", str(venv), "fastapi_template")
            run(self.scratch, uv(), *install)
            self.s3_generator.append(venv / "bin" / "fastapi_template")
        home.mkdir(parents=True)
        command = [str(self.s3_generator[0]), "--name", "s3svc", *S3_ARGS]
        wall, rss = timed(command, home, clean_env())
        self.s3_generated.append((home / "s3svc", wall))
        return home / "s3svc", wall, rss


def _row(name: str, what: str, seconds: list[float], memory: list[float]) -> dict[str, Any]:
    return {
        "name": name,
        "what": what,
        "seconds": Stats(seconds).as_dict(),
        "peak_mib": Stats(memory).as_dict(),
    }


# --- 1. Render -----------------------------------------------------------------------------


def render(bench: Run, variants: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """`copier copy` (the CLI, from this repository at HEAD) with and without its tasks, beside
    Copier's start-up alone and s3rius's generation."""
    scratch = bench.directory("render")
    copier = str(Path(sys.prefix) / "bin" / "copier")
    env = clean_env()
    seconds, memory = [], []
    for _ in range(bench.repeats):
        wall, rss = timed([copier, "--version"], scratch, env)
        seconds.append(wall)
        memory.append(rss / 2**20)
    rows = [_row("Copier itself", "copier --version (start-up only)", seconds, memory)]
    for framework, db in variants:
        for tasks in (False, True):
            seconds, memory = [], []
            for n in range(bench.repeats):
                dest = scratch / f"render-{framework}-{db}-{tasks}-{n}"
                command = [copier, "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD"]
                command += ["--trust"] if tasks else ["--skip-tasks"]
                command += ["--data", f"framework={framework}", "--data", f"database={db}"]
                wall, rss = timed([*command, str(ROOT), str(dest)], scratch, env)
                seconds.append(wall)
                memory.append(rss / 2**20)
            what = "copy + uv lock + git init" if tasks else "copy (--skip-tasks)"
            rows.append(_row(f"{framework} + {db}", what, seconds, memory))
    seconds, memory = [], []
    for n in range(bench.repeats):
        _, wall, rss = bench.s3_generate(scratch / f"s3-render-{n}")
        seconds.append(wall)
        memory.append(rss / 2**20)
    rows.append(
        _row("fastapi_template (s3rius)", "generate + uv sync + git + pre-commit", seconds, memory)
    )
    return rows


# --- 2. Time to green ----------------------------------------------------------------------


def green(bench: Run, variants: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Render (as a user does: through git, tasks skipped), `uv sync` with a warm cache, the
    generated tests; beside s3rius's generation (which installs its project) and its tests."""
    scratch = bench.directory("green")
    env = clean_env(UV_PYTHON="3.13")
    rows = []
    for framework, db in variants:
        answers = {"framework": framework, "database": db}
        warm = harness.render(scratch / f"warm-{framework}-{db}", vcs_ref="HEAD", **answers)
        run(warm, uv(), "sync", env=env)  # fills uv's cache: the runs below find it warm
        totals = []
        for n in range(bench.repeats):
            start = time.perf_counter()
            project = harness.render(scratch / f"{framework}-{db}-{n}", vcs_ref="HEAD", **answers)
            run(project, uv(), "sync", "--quiet", env=env)
            run(project, uv(), "run", "pytest", "-q", "-p", "no:cacheprovider", env=env)
            totals.append(time.perf_counter() - start)
        rows.append({"name": f"{framework} + {db}", "seconds": Stats(totals).as_dict()})
    # The generations timed by the render section count as s3rius's; more are made only if
    # this section runs alone.
    generated = list(bench.s3_generated)
    totals = []
    for n in range(bench.repeats):
        if n < len(generated):
            project, seconds = generated[n]
        else:
            project, seconds, _ = bench.s3_generate(scratch / f"s3-{n}")
        start = time.perf_counter()
        run(project, str(project / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider",
            env=clean_env(S3SVC_DB_FILE=str(project / "test.sqlite3")))  # fmt: skip
        totals.append(seconds + time.perf_counter() - start)
    rows.append({"name": "fastapi_template (s3rius)", "seconds": Stats(totals).as_dict()})
    return rows


# --- 3 and 4. Throughput, latency, memory ---------------------------------------------------


def load(bench: Run, variants: list[tuple[str, str]]) -> dict[str, Any]:
    """Our services as shipped (one worker), the same without access lines, the bare
    baselines, and s3rius's service, each under wrk."""
    ensure_wrk()
    scratch = bench.directory("load")
    post = APPS / "post_item.lua"
    results: dict[str, Any] = {}
    venvs: dict[str, Path] = {}
    for framework, db in variants:
        project = harness.installed(Variant(framework=framework, database=db))
        venvs.setdefault(framework, project.path / ".venv")
        with harness.database(db, scratch / f"{framework}-{db}", prefix="cps_bench") as data:
            env = service_env(project, data.url(framework), workers="1")
            run(project.path, project.bin("my-service"), "migrate", env=env)
            data.seed_items(1, 1000)
            log = scratch / f"{framework}-{db}.log"
            with _serve(project, env, log) as server:
                results[f"ours {framework} + {db}"] = bench.under_load(
                    server,
                    {
                        "live": ("/health/live", None),
                        "read": ("/api/v1/items/500", None),
                        "write": ("/api/v1/items", post),
                    },
                )
            if db == "sqlite":  # what the access line costs: the same, logging warnings only
                quiet = {**env, "MY_SERVICE_LOG_LEVEL": "WARNING"}
                with _serve(project, quiet, log) as server:
                    results[f"ours {framework} + {db}, no access line"] = bench.under_load(
                        server, {"live": ("/health/live", None)}
                    )
    # The baselines, on the same server (granian, one worker, ASGI).
    for name, framework, target in (
        ("bare ASGI", "fastapi", "bare_asgi:app"),
        ("bare FastAPI", "fastapi", "bare_fastapi:app"),
        ("bare django-ninja", "django", "bare_ninja:app"),
    ):
        granian = [str(venvs[framework] / "bin" / "granian"), "--interface", "asgi"]
        granian += ["--port", "{port}", "--workers", "1", "--no-ws", target]
        env = clean_env(PYTHONPATH=str(APPS))
        log = scratch / f"{name}.log"
        with Server(granian, APPS, env, log, "/health/live", GRACE).start() as server:
            results[name] = bench.under_load(server, {"live": ("/health/live", None)})
    results.update(_load_s3(bench, scratch))
    return results


def _serve(project: harness.Project, env: dict[str, str], log: Path) -> Server:
    server = harness.serve(project, env, log)
    server.grace = GRACE
    return server.start()


def _load_s3(bench: Run, scratch: Path) -> dict[str, Any]:
    """The service s3rius's generator makes (SQLite + SQLAlchemy), as shipped and on granian."""
    if bench.s3_generated:
        project = bench.s3_generated[-1][0]
    else:
        project = bench.s3_generate(scratch / "s3")[0]
    venv = project / ".venv"
    run(project, uv(), "pip", "install", "--quiet", "--python", str(venv), "granian")
    env = clean_env(S3SVC_DB_FILE=str(project / "bench.sqlite3"), S3SVC_LOG_LEVEL="INFO")
    run(project, str(venv / "bin" / "alembic"), "upgrade", "head", env=env)
    env["S3SVC_PORT"] = "{port}"  # the server replaces it with its free port
    put = scratch / "put_dummy.lua"
    put.write_text((APPS / "post_item.lua").read_text().replace('"POST"', '"PUT"'))
    endpoints = {
        "live": ("/api/health", None),
        "read": ("/api/dummy/?limit=1&offset=0", None),
        "write": ("/api/dummy/", put),
    }
    results = {}
    shipped = [str(venv / "bin" / "python"), "-m", "s3svc"]
    granian = [str(venv / "bin" / "granian"), "--interface", "asgi", "--factory"]
    granian += ["--port", "{port}", "--workers", "1", "s3svc.web.application:get_app"]
    for name, command in (("s3rius as shipped (uvicorn)", shipped), ("s3rius on granian", granian)):
        log = scratch / f"{name}.log"
        with Server(command, project, env, log, "/api/health", GRACE).start() as server:
            subprocess.run(  # a row to read
                ["curl", "-s", "-X", "PUT", "-H", "Content-Type: application/json",
                 "-d", '{"name": "seed"}', server.url + "/api/dummy/"],
                check=True, capture_output=True,
            )  # fmt: skip
            results[name] = bench.under_load(server, endpoints)
    return results


# --- 5. Free-threading ---------------------------------------------------------------------


def free_threading(bench: Run) -> dict[str, Any] | None:
    """With FT_PYTHON (a free-threaded interpreter): two worker processes against one worker
    with threads, both loaded like section 3. None without one."""
    python = os.environ.get("FT_PYTHON")
    if not python:
        return None
    scratch = bench.directory("free-threading")
    project = harness.build(Variant(), scratch / "ft", python=python)
    with harness.database("sqlite", scratch / "db", prefix="cps_bench") as data:
        env = service_env(project, data.url("fastapi"), workers="1") | {"PYTHON_GIL": "0"}
        run(project.path, project.bin("my-service"), "migrate", env=env)
        data.seed_items(1, 1000)
        granian = [project.bin("granian"), "--interface", "asgi", "--factory"]
        granian += ["--port", "{port}", "--workers", "1", "--runtime-mode", "mt"]
        results = {}
        for name, extra in (
            ("processes (2 workers)", ["--workers", "2"]),
            ("threads (1 worker, 2 blocking threads)", ["--blocking-threads", "2"]),
        ):
            target = [*granian, *extra, "my_service.app:create_app"]
            log = scratch / "ft.log"
            with Server(target, project.path, env, log, grace=GRACE).start() as server:
                results[name] = bench.under_load(server, {"read": ("/api/v1/items/500", None)})
    return results

"""What the benchmarks share: rendering the template, serving a rendered service, measuring.

Everything runs on this machine, on loopback, against the PostgreSQL at 127.0.0.1:5432 (trust
auth, user postgres) and SQLite files in a scratch directory. Figures are medians over repeated
runs, reported with their min and max, because absolute numbers vary between machines.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("CPS_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
READY_TIMEOUT = 60.0


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a rendered project's commands: no trace of the template's venv."""
    env = dict(os.environ)
    venv = env.pop("VIRTUAL_ENV", None)
    own_bin = str(Path(sys.prefix) / "bin")
    paths = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in paths if p not in {own_bin, f"{venv}/bin"})
    for name in ("PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"):
        env.pop(name, None)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.update(extra)
    return env


def uv() -> str:
    return shutil.which("uv") or str(Path(sys.prefix) / "bin" / "uv")


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        msg = f"`{' '.join(args)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        raise RuntimeError(msg)
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(destination: Path, **answers: object) -> Path:
    """The working tree rendered with `answers` (defaults for the rest), tasks skipped."""
    from copier import run_copy

    run_copy(
        str(ROOT),
        str(destination),
        data=answers,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        skip_tasks=True,
    )
    return destination


def install(project: Path, python: str = "3.13") -> None:
    run(project, uv(), "sync", env=clean_env(UV_PYTHON=python))


@dataclass
class Stats:
    """Median, min and max of repeated measurements."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high}


def repeat(times: int, measure: Callable[[], float]) -> Stats:
    return Stats([measure() for _ in range(times)])


def proc_status(pid: int, key: str) -> int:
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@dataclass
class Server:
    """A process serving HTTP on a free loopback port, started by `command`."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/health/ready") -> Server:
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        env = {name: value.replace("{port}", str(self.port)) for name, value in self.env.items()}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: see stop()
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"{command} exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                raise RuntimeError(msg)
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + ready_path, timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{command} not ready in {READY_TIMEOUT}s:\n{self.log.read_text()}")

    def workers(self) -> list[int]:
        """The processes that serve requests: the server's children, or itself."""
        assert self.process is not None
        return children(self.process.pid) or [self.process.pid]

    def rss(self, key: str = "VmRSS") -> int:
        """Memory of the serving processes together (VmRSS now, or VmHWM: the peak)."""
        return sum(proc_status(pid, key) for pid in self.workers())

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # A worker can outlive its server (seen with the granian serving s3rius's service: the
        # worker stayed, orphaned, after the main process exited): nothing of the group may.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Database:
    """A fresh database for one benchmark: a SQLite file, or a new PostgreSQL database."""

    kind: str
    framework: str
    directory: Path
    name: str = field(default_factory=lambda: f"cps_bench_{uuid.uuid4().hex[:10]}")

    @property
    def url(self) -> str:
        """The URL the service is configured with."""
        if self.kind == "sqlite":
            scheme = "sqlite+aiosqlite" if self.framework == "fastapi" else "sqlite"
            return f"{scheme}:///{self.directory / 'bench.sqlite3'}"
        scheme = "postgresql+asyncpg" if self.framework == "fastapi" else "postgresql"
        return f"{POSTGRES.replace('postgresql', scheme, 1)}/{self.name}"

    def create(self) -> None:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def seed_items(self, first: int, last: int) -> None:
        """Items numbered first..last, inserted straight into the table."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.directory / "bench.sqlite3") as connection:
                connection.execute(
                    "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
                    " INSERT INTO items (name, description, created_at, updated_at)"
                    " SELECT 'item ' || i, 'the item numbered ' || i,"
                    " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000' FROM n",
                    (first, last),
                )
            return
        import psycopg

        with psycopg.connect(f"{POSTGRES}/{self.name}") as connection:
            connection.execute(
                "INSERT INTO items (name, description, created_at, updated_at)"
                " SELECT 'item ' || i, 'the item numbered ' || i, now(), now()"
                " FROM generate_series(%s::bigint, %s::bigint) AS i",
                (first, last),
            )


@contextlib.contextmanager
def database(kind: str, framework: str, directory: Path) -> Iterator[Database]:
    db = Database(kind, framework, directory)
    db.create()
    try:
        yield db
    finally:
        db.drop()


def service_env(project_env: dict[str, str], database_url: str, **settings: str) -> dict[str, str]:
    return {
        **project_env,
        "MY_SERVICE_DATABASE_URL": database_url,
        "MY_SERVICE_LOG_FORMAT": "json",
        "MY_SERVICE_SECRET_KEY": uuid.uuid4().hex * 2,
        **{f"MY_SERVICE_{name.upper()}": value for name, value in settings.items()},
    }

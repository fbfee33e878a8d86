"""The contract suite's harness: each variant rendered, installed, migrated and served for real.

Each variant (framework x database, with the example API) is rendered from the working tree,
installed with `uv sync --locked`, given a fresh database (PostgreSQL: a new database on
127.0.0.1:5432, reached through a TCP proxy the tests can cut), migrated, and started with its
production command, `LOG_FORMAT=json`, on a free loopback port. The tests then talk to it over
HTTP only, and read what it wrote on stdout/stderr.
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from harness import Variant, free_port

CONTRACT_VARIANTS = [
    Variant(framework=framework, database=database)
    for framework in ("fastapi", "django")
    for database in ("sqlite", "postgresql")
]
READY_TIMEOUT = 60  # seconds for a started service to answer /health/ready
MAX_BODY_SIZE = 262_144  # the limit the services are configured with (bytes)
SHUTDOWN_TIMEOUT = 10  # their graceful shutdown budget (seconds)


class TcpProxy:
    """A loopback TCP relay to PostgreSQL that the tests can cut and restore (a network fault)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and break the open ones, as a database outage would."""
        if self._listener is not None:
            # shutdown() first: close() alone leaves a thread blocked in accept() listening.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                sock.close()
            with self._lock:
                self._sockets.difference_update((a, b))


@dataclass
class Database:
    """The database a deployed variant uses, and the faults the tests can inject into it."""

    kind: str
    service_url: str  # what the service connects to (through the proxy for PostgreSQL)
    direct: str  # a path (SQLite) or a psycopg conninfo (PostgreSQL), for the tests' own reads
    proxy: TcpProxy | None = None

    def item_ids(self) -> set[int]:
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.direct) as connection:
                return {row[0] for row in connection.execute("SELECT id FROM items")}
        import psycopg

        with psycopg.connect(self.direct) as connection:
            return {row[0] for row in connection.execute("SELECT id FROM items")}

    def seed(self, rows: int, tag: str) -> None:
        """Insert `rows` items at once, straight into the table (faster than the API)."""
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.direct) as connection:
                connection.execute(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
                    " INSERT INTO items (name, description, created_at, updated_at)"
                    " SELECT 'bulk-' || ? || '-' || i, 'row ' || i,"
                    " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000' FROM n",
                    (rows, tag),
                )
            return
        import psycopg

        with psycopg.connect(self.direct) as connection:
            connection.execute(
                "INSERT INTO items (name, description, created_at, updated_at)"
                " SELECT 'bulk-' || %s || '-' || i, 'row ' || i, now(), now()"
                " FROM generate_series(1, %s) AS i",
                (tag, rows),
            )

    def idle_transactions(self) -> int:
        """Sessions left idle inside a transaction (PostgreSQL; SQLite has none to leave)."""
        if self.kind == "sqlite":
            return 0
        import psycopg

        name = self.direct.rsplit("/", 1)[1]
        with psycopg.connect(self.direct) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND state LIKE 'idle in transaction%%'",
                (name,),
            ).fetchone()
        return row[0] if row else 0

    def take_down(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        else:  # the SQLite file's directory disappears
            directory = Path(self.direct).parent
            directory.rename(directory.with_name(directory.name + "-away"))

    def bring_back(self) -> None:
        if self.proxy is not None:
            self.proxy.start()
        else:
            directory = Path(self.direct).parent
            away = directory.with_name(directory.name + "-away")
            if away.exists():
                away.rename(directory)


@dataclass
class Service:
    """One running process of a deployed variant, started with its production command."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        env = {**self.env, "MY_SERVICE_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the service exited with {self.process.returncode}:\n{self.output()}")
            try:
                ready = httpx.get(f"{self.base_url}/health/ready", timeout=2, trust_env=False)
                if ready.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.terminate()
        pytest.fail(f"the service was not ready within {READY_TIMEOUT}s:\n{self.output()}")

    def terminate(self, timeout: float = SHUTDOWN_TIMEOUT + 10) -> int:
        """SIGTERM, then the exit status (killed, and a failure, if it overstays `timeout`)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"the service did not stop within {timeout}s of SIGTERM")
        return self.process.returncode

    def worker_peak_rss(self) -> int:
        """Peak resident memory (VmHWM, bytes) of the service's single worker process."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        [worker] = children.read_text().split()
        for line in Path(f"/proc/{worker}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc status")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self) -> list[dict]:
        """Every line the service wrote, parsed: each one must be a JSON object."""
        records = []
        for number, line in enumerate(self.output().splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    pytest.fail(f"line {number} of the service's output is not JSON: {line!r}")
        return records


@dataclass
class Deployment:
    variant: Variant
    project: Path
    database: Database
    env: dict[str, str]

    def service(self, name: str) -> Service:
        return Service(
            command=[str(self.project / ".venv" / "bin" / "my-service"), "serve"],
            cwd=self.project,
            env=self.env,
            log_path=self.project / f"{name}.log",
        )

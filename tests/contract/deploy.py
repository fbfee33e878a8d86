"""What only the contract suite needs: its variants, its settings, and a database it can cut.

Each variant (framework x database, with the example API) is the harness's installed render
(`harness.installed`), given a fresh database (PostgreSQL: a new database on 127.0.0.1:5432,
reached through a TCP proxy the tests can cut), migrated, and started with its production
command, `LOG_FORMAT=json`, on a free loopback port. The tests then talk to it over HTTP only,
and read what it wrote on stdout/stderr.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import harness
from harness import Database, Project, Server, Variant, free_port

CONTRACT_VARIANTS = [
    Variant(framework=framework, database=database)
    for framework in ("fastapi", "django")
    for database in ("sqlite", "postgresql")
]
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
class Deployment:
    """A variant installed, migrated and configured; its services are started by the tests."""

    variant: Variant
    project: Project
    database: Database
    env: dict[str, str]
    logs: Path
    proxy: TcpProxy | None = None  # between the services and PostgreSQL

    def service(self, name: str, **settings: str) -> Server:
        """A process of the service (not started), with `settings` on top (by name)."""
        env = self.env | {f"MY_SERVICE_{key.upper()}": value for key, value in settings.items()}
        return harness.serve(self.project, env, self.logs / f"{name}.log")

    def take_down(self) -> None:
        """The database goes away: the proxy cuts every connection, or the SQLite file's
        directory disappears."""
        if self.proxy is not None:
            self.proxy.stop()
        else:
            directory = Path(self.database.location).parent
            directory.rename(directory.with_name(directory.name + "-away"))

    def bring_back(self) -> None:
        if self.proxy is not None:
            self.proxy.start()
        else:
            directory = Path(self.database.location).parent
            away = directory.with_name(directory.name + "-away")
            if away.exists():
                away.rename(directory)

"""The one harness of the template repository: its tests and its benchmarks both use it.

- Variants as data: `Variant`, and the answer sets each tier covers.
- Commands inside a render: `clean_env`, `run`, `uv`, `find_python`.
- Rendering the working tree: `render`; shared per process: `rendered`, `locked`, `installed`
  (a render, its post-copy task, `uv sync --locked`); private copies: `build`.
- Serving: `Server` (its own process group, readiness, SIGTERM, its JSON log lines).
- Databases: `database_url` (the one place the drivers are named), `Database`, `database`.

Nothing here asserts what a test checks: a command that fails raises `CommandError`, a server
that misbehaves `ServerError` (both are AssertionErrors, so pytest reports them as failures).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent

# The PostgreSQL server every machine of this project (and CI) provides.
POSTGRES_SERVER = os.environ.get("CPS_POSTGRES", "postgresql://postgres@127.0.0.1:5432")

READY_TIMEOUT = 60.0  # seconds for a started server to answer its readiness path
STOP_TIMEOUT = 30.0  # seconds for it to exit after SIGTERM


# --- Variants ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One answer set of the template, named for test ids."""

    framework: str = "fastapi"
    database: str = "sqlite"
    include_example_api: bool = True
    free_threading: bool = True
    python_version: str = "3.13"
    ci: str = "github"
    django_admin: bool = True
    realtime: bool = False
    broker: str = "memory"
    auth: str = "none"

    @property
    def id(self) -> str:
        return "-".join(
            [
                self.framework,
                self.database,
                "api" if self.include_example_api else "bare",
                "ft" if self.free_threading else "gil",
                *([] if self.django_admin else ["noadmin"]),
                *([f"rt-{self.broker}"] if self.realtime else []),
                *([] if self.auth == "none" else [f"auth-{self.auth}"]),
                *([] if self.ci == "github" else [f"ci-{self.ci}"]),
                f"py{self.python_version}",
            ]
        )

    def answers(self) -> dict[str, object]:
        answers: dict[str, object] = {"django_admin": self.django_admin}
        if self.realtime:  # asked only with the example API, the broker only with realtime
            answers |= {"realtime": True, "broker": self.broker}
        return answers | {
            "framework": self.framework,
            "database": self.database,
            "include_example_api": self.include_example_api,
            "free_threading": self.free_threading,
            "python_version": self.python_version,
            "ci": self.ci,
            "auth": self.auth,
        }


# Fast tier: every combination of framework x database x example API x free-threading.
FAST_VARIANTS = (
    [
        Variant(framework=fw, database=db, include_example_api=api, free_threading=ft)
        for fw, db, api, ft in itertools.product(
            ("fastapi", "django"), ("sqlite", "postgresql"), (True, False), (True, False)
        )
    ]
    + [
        Variant(framework="django", database=db, include_example_api=api, django_admin=False)
        for db, api in (("sqlite", True), ("postgresql", False))
    ]
    + [
        # Real-time events: every framework x database x broker.
        Variant(framework=fw, database=db, realtime=True, broker=broker)
        for fw, db, broker in itertools.product(
            ("fastapi", "django"), ("sqlite", "postgresql"), ("memory", "redis")
        )
    ]
    # Bearer-token authentication, with each framework, without and with WebSockets.
    + [
        Variant(framework=fw, realtime=rt, auth="oidc")
        for fw, rt in itertools.product(("fastapi", "django"), (False, True))
    ]
)

# Build tier: per framework, each database with the example API and SQLite without it, on two
# of the minimum Pythons. (Without the example API, PostgreSQL changes nothing the SQLite render
# does not run: the fast tier renders and lints it.)
BUILD_VARIANTS = (
    [
        Variant(framework=fw, database=db, include_example_api=api, python_version=py)
        for fw in ("fastapi", "django")
        for db, api, py in (
            ("sqlite", True, "3.13"),
            ("sqlite", False, "3.12"),
            ("postgresql", True, "3.12"),
        )
    ]
    + [Variant(framework="django", include_example_api=True, django_admin=False)]
    + [
        # Real-time events: each broker with each framework (the databases alternate).
        Variant(framework=fw, database=db, realtime=True, broker=broker, python_version=py)
        for fw, db, broker, py in (
            ("fastapi", "sqlite", "memory", "3.13"),
            ("fastapi", "postgresql", "redis", "3.12"),
            ("django", "sqlite", "redis", "3.13"),
            ("django", "postgresql", "memory", "3.12"),
        )
    ]
    # Bearer-token authentication: one per framework (SQLite: the token check does not touch
    # the database, and a Django suite on PostgreSQL takes twice as long).
    + [
        Variant(framework="fastapi", auth="oidc", python_version="3.12"),
        Variant(framework="django", auth="oidc"),
    ]
)


# --- Commands inside a render ---------------------------------------------------------------


class CommandError(AssertionError):
    """A command exited non-zero; the message holds its output."""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for commands run inside a rendered project.

    Nothing of the template's own virtual environment leaks in (a generated project resolves
    its own interpreter and venv), nor options meant for the template's own pytest; uv may not
    download interpreters.
    """
    env = dict(os.environ)
    venv = env.pop("VIRTUAL_ENV", None)
    own_bin = str(Path(sys.prefix) / "bin")
    paths = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in paths if p not in {own_bin, f"{venv}/bin"})
    for name in ("PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.update(extra)
    return env


def uv() -> str:
    """The uv executable: the one on PATH, else the template's venv's (a dev dependency)."""
    return shutil.which("uv") or str(Path(sys.prefix) / "bin" / "uv")


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command (in a rendered project: `clean_env()` unless `env` says otherwise).

    Raises CommandError, with the command's output, if it exits non-zero.
    """
    result = subprocess.run(
        args,
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise CommandError(
            f"`{' '.join(args)}` exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


@functools.cache
def find_python(version: str) -> str:
    """An interpreter for `version` that uv can use without downloading one."""
    try:
        return run(Path.cwd(), uv(), "python", "find", version).stdout.strip()
    except CommandError as error:
        message = f"no CPython {version} on this machine (uv python find)\n{error}"
        raise CommandError(message) from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Scratch space ---------------------------------------------------------------------------

_scratch: list[Path] = []


def use_scratch(directory: Path) -> None:
    """Keep this process's shared renders and builds in `directory` (pytest's temporary
    directory, kept after a failure); without it, a temporary directory removed at exit."""
    directory.mkdir(parents=True, exist_ok=True)
    _scratch[:] = [directory]


def scratch() -> Path:
    if not _scratch:
        directory = Path(tempfile.mkdtemp(prefix="cps-harness-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        _scratch.append(directory)
    return _scratch[0]


# --- Rendering -------------------------------------------------------------------------------


@functools.cache
def template_snapshot() -> Path:
    """A plain copy of what Copier reads (copier.yml, meta/, template/), made once per process.

    Copier renders a plain directory in place; the working tree itself, a git repository, it
    would clone at each render.
    """
    snapshot = Path(tempfile.mkdtemp(prefix="cps-template-"))
    atexit.register(shutil.rmtree, snapshot, ignore_errors=True)
    shutil.copy2(ROOT / "copier.yml", snapshot / "copier.yml")
    for name in ("meta", "template"):
        shutil.copytree(ROOT / name, snapshot / name, ignore=shutil.ignore_patterns("__pycache__"))
    return snapshot


# Copier builds a new Jinja environment for each render, and Jinja compiles every template
# again in each one: most of a render's time. The code Jinja makes of a source depends only
# on that source, its name and file, and the environment's settings, so within `render()` a
# compile is looked up by all of these first.
_MEMO_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("memo", default=False)
_COMPILED: dict[tuple[Any, ...], Any] = {}
_ENVIRONMENT_KEYS: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def _environment_key(environment: Any) -> tuple[Any, ...]:
    """What of a Jinja environment its compiled code depends on (computed once per
    environment: Copier configures its environment before the first compile)."""
    key = _ENVIRONMENT_KEYS.get(environment)
    if key is None:
        from jinja2.utils import _PassArg

        def functions(mapping: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
            # The generated code calls filters and tests by name, passing the context,
            # eval context or environment first to those decorated for it.
            return tuple(sorted((name, _PassArg.from_obj(f)) for name, f in mapping.items()))

        finalize = environment.finalize
        key = (
            type(environment),
            environment.block_start_string,
            environment.block_end_string,
            environment.variable_start_string,
            environment.variable_end_string,
            environment.comment_start_string,
            environment.comment_end_string,
            environment.line_statement_prefix,
            environment.line_comment_prefix,
            environment.trim_blocks,
            environment.lstrip_blocks,
            environment.newline_sequence,
            environment.keep_trailing_newline,
            environment.optimized,
            environment.autoescape if isinstance(environment.autoescape, bool) else id(environment),
            environment.is_async,
            finalize is None,
            _PassArg.from_obj(finalize) if finalize is not None else None,
            environment.policies.get("compiler.ascii_str"),
            tuple(sorted(environment.extensions)),
            functions(environment.filters),
            functions(environment.tests),
        )
        _ENVIRONMENT_KEYS[environment] = key
    return key


@functools.cache
def _install_compile_memo() -> None:
    import jinja2

    compile_source = jinja2.Environment.compile

    def compile_memo(
        self: Any,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if not _MEMO_ACTIVE.get() or not isinstance(source, str):
            return compile_source(self, source, name, filename, raw, defer_init)
        key = (_environment_key(self), source, name, filename, raw, defer_init)
        code = _COMPILED.get(key)
        if code is None:
            code = _COMPILED[key] = compile_source(self, source, name, filename, raw, defer_init)
        return code

    jinja2.Environment.compile = compile_memo  # type: ignore[method-assign]


def render(
    destination: Path,
    *,
    vcs_ref: str | None = None,
    tasks: bool = False,
    overwrite: bool = False,
    quiet: bool = True,
    **answers: object,
) -> Path:
    """Render the working tree with `answers` (defaults for the rest) into `destination`.

    As `copier copy --defaults --skip-tasks` does, from a snapshot of the working tree; with
    `vcs_ref`, through git as a user's `--vcs-ref=HEAD` does (the answers then record
    `_commit`); with `tasks`, the post-copy task runs too, as with `--trust`; not `quiet`,
    Copier prints what it writes and the message after copy.
    """
    from copier import run_copy

    options: dict[str, Any] = {
        "data": answers,
        "defaults": True,
        "overwrite": overwrite,
        "quiet": quiet,
        "skip_tasks": not tasks,
        "unsafe": tasks,
    }
    if vcs_ref is not None:
        run_copy(str(ROOT), str(destination), vcs_ref=vcs_ref, **options)
        return destination
    _install_compile_memo()
    token = _MEMO_ACTIVE.set(True)
    try:
        run_copy(str(template_snapshot()), str(destination), **options)
    finally:
        _MEMO_ACTIVE.reset(token)
    return destination


def post_copy(project: Path) -> None:
    """The template's post-copy task (uv lock, git init), run in `project` as Copier runs it
    after `copier copy --trust`. A step it skipped (it says why) is a CommandError here."""
    result = run(project, sys.executable, str(template_snapshot() / "meta" / "post_copy.py"))
    if not (project / "uv.lock").is_file() or not (project / ".git").is_dir():
        raise CommandError(f"the post-copy task skipped a step in {project}:\n{result.stdout}")


@dataclass(frozen=True)
class Project:
    """A rendered project installed with `uv sync --locked`, and the environment to run it."""

    path: Path
    env: dict[str, str]

    def bin(self, name: str) -> str:
        """An executable of the project's virtual environment (`my-service`, `python`...)."""
        return str(self.path / ".venv" / "bin" / name)


# Shared per process, by variant id (an id names one answer set).
_RENDERED: dict[str, Path] = {}
_LOCKED: dict[str, Path] = {}
_INSTALLED: dict[str, Project] = {}


def rendered(variant: Variant) -> Path:
    """The render of `variant`, made once per process and shared: read it, never change it."""
    if variant.id not in _RENDERED:
        project = scratch() / "rendered" / variant.id
        shutil.rmtree(project, ignore_errors=True)  # what a failed render left
        _RENDERED[variant.id] = render(project, **variant.answers())
    return _RENDERED[variant.id]


def locked(variant: Variant) -> Path:
    """A copy of the render of `variant` whose post-copy task ran (uv.lock, a git repository),
    made once per process and shared: read it, never change it."""
    if variant.id not in _LOCKED:
        project = scratch() / "locked" / variant.id
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(rendered(variant), project)
        post_copy(project)
        _LOCKED[variant.id] = project
    return _LOCKED[variant.id]


def install(project: Path, python: str) -> Project:
    """`uv sync --locked` in `project`, with this machine's CPython `python` (a version, or an
    interpreter's path)."""
    env = clean_env(UV_PYTHON=find_python(python))
    run(project, uv(), "sync", "--locked", env=env)
    return Project(project, env)


def installed(variant: Variant) -> Project:
    """`locked(variant)`, installed once per process and shared: run it (its logs and
    databases go elsewhere), never change its files."""
    if variant.id not in _INSTALLED:
        _INSTALLED[variant.id] = install(locked(variant), variant.python_version)
    return _INSTALLED[variant.id]


def build(variant: Variant, destination: Path, python: str | None = None) -> Project:
    """A private installed copy of `variant` at `destination`, free to change (installed with
    `python`, a version or an interpreter's path, rather than the variant's version)."""
    shutil.copytree(locked(variant), destination, ignore=shutil.ignore_patterns(".venv"))
    return install(destination, python or variant.python_version)


# --- Serving ---------------------------------------------------------------------------------


class ServerError(AssertionError):
    """A served process exited early, never got ready, did not stop, or wrote a non-JSON line."""


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
    """A process serving HTTP on a free loopback port: `{port}` in its command and environment
    values is replaced by that port. It runs in a process group of its own, so that nothing it
    started outlives it."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    ready_path: str = "/health/ready"
    grace: float = STOP_TIMEOUT  # how long leaving a `with` block waits for it to stop
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = READY_TIMEOUT) -> Server:
        """Start it and wait until its readiness path answers 200."""
        import httpx

        command = [part.replace("{port}", str(self.port)) for part in self.command]
        env = {name: value.replace("{port}", str(self.port)) for name, value in self.env.items()}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise ServerError(
                    f"{command[0]} exited with {self.process.returncode} before it was ready:\n"
                    f"{self.output()[-4000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                ready = httpx.get(self.url + self.ready_path, timeout=2, trust_env=False)
                if ready.status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop(force=True)
        raise ServerError(f"{self.url}{self.ready_path} did not answer 200 within {timeout}s")

    def stop(self, timeout: float = STOP_TIMEOUT, *, force: bool = False) -> int | None:
        """SIGTERM, then its exit status. If it overstays `timeout`, its process group is killed
        and that is a ServerError, unless `force` (None is returned then). Whatever it started
        and left behind is killed either way."""
        if self.process is None:
            return None
        status: int | None = self.process.poll()
        overstayed = False
        if status is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                status = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                overstayed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if overstayed:
            self.process.wait()
            if not force:
                raise ServerError(f"{self.command[0]} did not stop within {timeout}s of SIGTERM")
        return status

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(self.grace, force=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """Every line it wrote, parsed: each one must be a JSON object."""
        records = []
        for number, line in enumerate(self.output().splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    message = f"line {number} of {self.log} is not JSON: {line!r}"
                    raise ServerError(message) from None
        return records

    def wait_for_output(self, text: str, count: int = 1, timeout: float = READY_TIMEOUT) -> None:
        """Wait until `text` occurs `count` times in what it wrote."""
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            if time.monotonic() > deadline:
                raise ServerError(f"{text!r} did not appear {count} times within {timeout}s")
            time.sleep(0.1)

    def workers(self) -> list[int]:
        """The processes that serve requests: the server's children, or itself."""
        if self.process is None:
            raise ServerError("the server was never started")
        return children(self.process.pid) or [self.process.pid]

    def rss(self, key: str = "VmRSS") -> int:
        """Memory of the serving processes together (VmRSS now, or VmHWM: the peak), bytes."""
        return sum(proc_status(pid, key) for pid in self.workers())


def service_env(project: Project, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a generated service run like production: its database, JSON logs,
    DEBUG off (a Django project's .env turns it on) with a secret key of its own, and
    `settings` (by name)."""
    return {
        **project.env,
        "MY_SERVICE_DATABASE_URL": database_url,
        "MY_SERVICE_LOG_FORMAT": "json",
        "MY_SERVICE_DEBUG": "false",
        "MY_SERVICE_SECRET_KEY": uuid.uuid4().hex * 2,
        **{f"MY_SERVICE_{name.upper()}": value for name, value in settings.items()},
    }


@contextlib.contextmanager
def identity_provider(project: Project) -> Iterator[dict[str, Any]]:
    """The IdP stand-in of an `auth=oidc` project (its tests/idp.py) in a process of its own:
    yields what it prints, the settings of a service that trusts it ("environment") and a
    token of each kind ("tokens"); stopped at the end of the block, or with `stop()`."""
    process = subprocess.Popen(
        [project.bin("python"), "tests/idp.py"],
        cwd=project.path,
        env=project.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise ServerError(f"tests/idp.py exited {process.wait()} before serving")
        provider = json.loads(line)
        provider["stop"] = lambda: (process.terminate(), process.wait(10))
        yield provider
    finally:
        process.terminate()
        process.wait(10)


def serve(project: Project, env: dict[str, str], log: Path) -> Server:
    """The service's production command, `my-service serve`, on a free port (not started)."""
    env = {**env, "MY_SERVICE_PORT": "{port}"}
    return Server([project.bin("my-service"), "serve"], project.path, env, log)


# --- Databases -------------------------------------------------------------------------------


def database_url(
    framework: str, database: str, location: str | Path, server: str = POSTGRES_SERVER
) -> str:
    """The URL a service of `framework` is configured with, for a SQLite file or a database
    of the PostgreSQL `server`. SQLAlchemy's URLs name the async driver (+aiosqlite,
    +asyncpg); Django's name only the database."""
    driver = ""
    if framework == "fastapi":
        driver = "+asyncpg" if database == "postgresql" else "+aiosqlite"
    if database == "sqlite":
        return f"sqlite{driver}:///{location}"
    return f"{server.replace('postgresql', 'postgresql' + driver, 1)}/{location}"


def create_database(prefix: str = "cps") -> str:
    """A new, empty database on the PostgreSQL server; its name."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Database:
    """The database a service uses: a SQLite file, or a database of the PostgreSQL server.
    Its rows are read and written here directly, not through the service."""

    kind: str  # sqlite | postgresql
    location: str  # the SQLite file, or the PostgreSQL database's name

    def url(self, framework: str, server: str = POSTGRES_SERVER) -> str:
        return database_url(framework, self.kind, self.location, server)

    @property
    def conninfo(self) -> str:
        return f"{POSTGRES_SERVER}/{self.location}"

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.location)) as connection, connection:
                return connection.execute(sql.replace("%s", "?"), params).fetchall()
        import psycopg

        with psycopg.connect(self.conninfo) as connection:
            cursor = connection.execute(sql, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def seed_items(
        self, first: int, last: int, name: str = "item ", description: str = "the item numbered "
    ) -> None:
        """Items numbered first..last (`name` and `description` followed by the number),
        inserted straight into the table: faster than the API."""
        if self.kind == "sqlite":
            self._execute(
                "WITH RECURSIVE n(i) AS (SELECT %s UNION ALL SELECT i + 1 FROM n WHERE i < %s)"
                " INSERT INTO items (name, description, created_at, updated_at)"
                " SELECT %s || i, %s || i,"
                " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000' FROM n",
                (first, last, name, description),
            )
        else:
            self._execute(
                "INSERT INTO items (name, description, created_at, updated_at)"
                " SELECT %s || i, %s || i, now(), now()"
                " FROM generate_series(%s::bigint, %s::bigint) AS i",
                (name, description, first, last),
            )

    def _sqlite_stale_readers(self) -> int:
        # A write (the header's user_version, which neither Django nor Alembic reads) puts a
        # frame in the WAL. A checkpoint can copy it into the database file and empty the WAL
        # only once no connection reads a snapshot from before it: a read transaction left
        # open (an unfinished cursor) makes the checkpoint report itself busy.
        with contextlib.closing(sqlite3.connect(self.location, timeout=5)) as connection:
            connection.isolation_level = None  # each statement on its own
            [(version,)] = connection.execute("PRAGMA user_version").fetchall()
            connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("PRAGMA busy_timeout = 200")  # readers get no longer to finish
            [(busy, frames, copied)] = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return 1 if busy or frames != copied else 0

    def item_ids(self) -> set[int]:
        return {row[0] for row in self._execute("SELECT id FROM items")}

    def idle_transactions(self) -> int:
        """Sessions left idle inside a transaction: on PostgreSQL, as the server lists them; on
        SQLite (in WAL mode), 1 if a connection still reads an older snapshot, else 0."""
        if self.kind == "sqlite":
            return self._sqlite_stale_readers()
        [(count,)] = self._execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = %s AND state LIKE 'idle in transaction%%'",
            (self.location,),
        )
        return count


@contextlib.contextmanager
def database(kind: str, directory: Path, prefix: str = "cps") -> Iterator[Database]:
    """A fresh database for the time of the block: a SQLite file in `directory`, or a new
    PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        directory.mkdir(parents=True, exist_ok=True)
        yield Database("sqlite", str(directory / f"{prefix}.sqlite3"))
        return
    name = create_database(prefix)
    try:
        yield Database("postgresql", name)
    finally:
        drop_database(name)

"""Shared harness of the template's tests: variants as data, clean subprocesses, free ports."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The PostgreSQL server every machine of this project (and CI) provides.
POSTGRES_SERVER = os.environ.get("CPS_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


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
)

# Build tier: per framework, each database with and without the example API, on two of the
# minimum Pythons.
BUILD_VARIANTS = (
    [
        Variant(framework=fw, database=db, include_example_api=api, python_version=py)
        for fw in ("fastapi", "django")
        for db, api, py in (
            ("sqlite", True, "3.13"),
            ("sqlite", False, "3.12"),
            ("postgresql", True, "3.12"),
            ("postgresql", False, "3.13"),
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
)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for commands run inside a rendered project.

    The template's own virtual environment must not leak in: a generated project resolves its
    own interpreter and venv. uv may not download interpreters here.
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
    exe = shutil.which("uv")
    if exe is None:  # the template's venv has uv as a dependency
        exe = str(Path(sys.prefix) / "bin" / "uv")
    return exe


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command in a rendered project; fail the test with its output if it fails."""
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
        pytest.fail(
            f"`{' '.join(args)}` exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


def find_python(version: str) -> str:
    """An interpreter for `version` that uv can use without downloading one."""
    result = subprocess.run(
        [uv(), "python", "find", version],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"no CPython {version} on this machine (uv python find): {result.stderr}")
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(destination: Path, *, overwrite: bool = False, **answers: object) -> Path:
    """Render the working tree with `answers` (defaults for the rest), as `copier copy
    --defaults --skip-tasks` does: no --trust needed, the render itself is pure."""
    from copier import run_copy

    run_copy(
        str(ROOT),
        str(destination),
        data=answers,
        defaults=True,
        overwrite=overwrite,
        vcs_ref="HEAD",
        quiet=True,
        skip_tasks=True,
    )
    return destination

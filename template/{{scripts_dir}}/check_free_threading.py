"""Free-threading readiness of the locked dependencies, checked offline from uv.lock.

For every package that `uv sync --locked` would install on a free-threaded CPython (3.14t,
3.15t), on Linux (x86_64, aarch64), macOS (arm64) and Windows (x86_64), report whether a wheel
built for that interpreter exists in the lock or the package is pure Python. Exit 1 when a
package would have to be built from source or is known to re-enable the GIL.

    uv run python scripts/check_free_threading.py [--python 3.14t ...] [--lock uv.lock]

No network: the lock file lists every wheel the index offers for the locked versions.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker

# Packages whose free-threaded wheels exist but switch the GIL back on at import, below the
# version that fixed it (None: every version). Extend as you learn of more.
REENABLES_GIL: dict[str, tuple[tuple[int, ...] | None, str]] = {
    "sqlalchemy": ((2, 1), "SQLAlchemy 2.0 wheels re-enable the GIL; use 2.1 or newer"),
    "orjson": (None, "orjson re-enables the GIL on free-threaded builds"),
}


# Packages whose gap you accept on purpose (they build from source in CI, or are never imported
# on a free-threaded build), each with the reason. Empty: every package must be ready.
ACCEPTED: dict[str, str] = {}


@dataclass(frozen=True)
class Platform:
    name: str
    sys_platform: str
    platform_machine: str
    tag: re.Pattern[str]


PLATFORMS = [
    Platform("linux-x86_64", "linux", "x86_64", re.compile(r"manylinux.*_x86_64")),
    Platform("linux-aarch64", "linux", "aarch64", re.compile(r"manylinux.*_aarch64")),
    Platform("macos-arm64", "darwin", "arm64", re.compile(r"macosx_.*_(arm64|universal2)")),
    Platform("windows-amd64", "win32", "AMD64", re.compile(r"win_amd64")),
]


def wheel_tags(filename: str) -> tuple[set[str], set[str], set[str]]:
    """The python, ABI and platform tags of a wheel file name (compressed tag sets expanded)."""
    python, abi, platform = filename.removesuffix(".whl").split("-")[-3:]
    return set(python.split(".")), set(abi.split(".")), set(platform.split("."))


def verdict(package: dict, version: str, platform: Platform) -> str:
    """How a package installs on one free-threaded target: from a wheel, or 'MISSING'.

    'pure': a py3-none-any wheel; 'binary': a py3-none-<platform> wheel (a tool such as ruff,
    independent of the interpreter); 'wheel': built for this free-threaded ABI, or for the
    free-threaded stable ABI (`abi3t`, PEP 803: a `cp315-abi3t` wheel serves 3.15t and later).
    abi3 wheels do not count: that stable ABI does not cover free-threaded builds.
    """
    abi = f"cp{version.replace('.', '')}t"
    target = version_tuple(version)
    found = "MISSING"
    for wheel in package.get("wheels", []):
        pythons, abis, platforms = wheel_tags(wheel["url"].rsplit("/", 1)[-1])
        on_platform = any(platform.tag.fullmatch(p) for p in platforms)
        if abi in abis and on_platform:
            return "wheel"
        oldest = min((version_tuple(p[2:3] + "." + p[3:]) for p in pythons), default=target)
        if "abi3t" in abis and on_platform and oldest <= target:
            return "wheel"
        if "none" in abis and pythons & {"py3", "py2.py3"}:
            if "any" in platforms:
                found = "pure"
            elif on_platform and found == "MISSING":
                found = "binary"
    return found


def environment(version: str, platform: Platform) -> dict[str, str]:
    return {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "python_version": version,
        "python_full_version": f"{version}.0",
        "sys_platform": platform.sys_platform,
        "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[
            platform.sys_platform
        ],
        "platform_machine": platform.platform_machine,
        "os_name": "nt" if platform.sys_platform == "win32" else "posix",
        "extra": "",
    }


def root(lock: dict) -> dict:
    """The project itself: the lock's editable (or virtual) package."""
    return next(p for p in lock["package"] if {"editable", "virtual"} & set(p.get("source", {})))


def installed(lock: dict, env: dict[str, str]) -> dict[str, dict]:
    """The packages `uv sync --locked` installs in `env`: the project, its deps and dev group."""
    packages = {p["name"]: p for p in lock["package"]}
    project = root(lock)
    seen: dict[str, dict] = {}
    todo = [(project, ())]
    while todo:
        package, extras = todo.pop()
        deps = list(package.get("dependencies", []))
        for extra in extras:
            deps += package.get("optional-dependencies", {}).get(extra, [])
        if package is project:
            for group in package.get("dev-dependencies", {}).values():
                deps += group
        for dep in deps:
            marker = dep.get("marker")
            if marker and not Marker(marker).evaluate(env):
                continue
            target = packages[dep["name"]]
            if target["name"] not in seen or dep.get("extra"):
                seen[target["name"]] = target
                todo.append((target, tuple(dep.get("extra", ()))))
    return seen


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def audit(lock: dict, versions: list[str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Per package, how it installs on each target; and what is not free-threading ready."""
    rows: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    locked: dict[str, str] = {}
    for version in versions:
        for platform in PLATFORMS:
            column = f"{version}t {platform.name}"
            for name, package in installed(lock, environment(version, platform)).items():
                label = f"{name} {package['version']}"
                locked[name] = package["version"]
                rows.setdefault(label, {})[column] = result = verdict(package, version, platform)
                if result == "MISSING" and name not in ACCEPTED:
                    missing.setdefault(label, []).append(column)
    problems = [f"{label}: no wheel for {', '.join(columns)}" for label, columns in missing.items()]
    for name, version in locked.items():
        fixed_in, why = REENABLES_GIL.get(name, ((0,), ""))
        if why and (fixed_in is None or version_tuple(version) < fixed_in):
            problems.append(f"{name} {version}: {why}")
    return rows, sorted(problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=Path("uv.lock"))
    parser.add_argument("--python", action="append", help="3.14t, 3.15t (default: both)")
    args = parser.parse_args(argv)
    targets = args.python or ["3.14t", "3.15t"]
    lock = tomllib.loads(args.lock.read_text(encoding="utf-8"))
    rows, problems = audit(lock, [target.removesuffix("t") for target in targets])

    columns = [f"{target} {platform.name}" for target in targets for platform in PLATFORMS]
    width = max(map(len, rows), default=10)
    print(f"{'package':<{width}}  " + "  ".join(f"{c:>19}" for c in columns))
    for label in sorted(rows):
        cells = [rows[label].get(column, "-") for column in columns]
        print(f"{label:<{width}}  " + "  ".join(f"{cell:>19}" for cell in cells))
    if problems:
        print("\nNot free-threading ready:", *problems, sep="\n  ")
        return 1
    print(f"\nAll {len(rows)} packages are free-threading ready ({', '.join(targets)}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

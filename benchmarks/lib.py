"""Measuring: repeated figures, a command's wall time and memory, wrk under load.

Rendering, installing, serving and databases come from the repository's harness (harness.py).
Figures are medians over repeated runs, reported with their min and max, because absolute
numbers vary between machines.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import Server

CONNECTIONS = 64  # wrk's concurrency, the same for every target


@dataclass
class Stats:
    """Median, min and max of repeated measurements."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": min(self.values), "max": max(self.values)}


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, the largest process of the tree) of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        msg = f"{command} exited {process.returncode}: {process.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
        raise RuntimeError(msg)
    process.stderr.close()  # type: ignore[union-attr]
    return seconds, usage.ru_maxrss * 1024


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
    if not shutil.which("wrk"):
        msg = "wrk is needed for the throughput benchmark (Debian/Ubuntu: apt install wrk)"
        raise SystemExit(msg)


def wrk(url: str, seconds: int, script: Path | None = None) -> dict[str, float]:
    """Requests/s and the p50 and p99 latencies (ms) of `seconds` of load on `url`."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        found = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if found is None:
            raise RuntimeError(f"no {p}% latency in wrk's output:\n{out}")
        value, unit = found.groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]

    failed = int(errors.group(1)) if errors else 0
    if failed > requests * 0.01:
        msg = f"{url}: {failed} of {requests} responses were not 2xx"
        raise RuntimeError(msg)
    return {"rps": rate, "p50_ms": percentile("50"), "p99_ms": percentile("99")}


def under_load(
    server: Server,
    endpoints: dict[str, tuple[str, Path | None]],
    seconds: int,
    repeats: int,
    warm_up: bool = True,
) -> dict[str, Any]:
    """Each endpoint under load, `repeats` times (after a second of warm-up); and the worker's
    memory, idle and at its peak."""
    result: dict[str, Any] = {"idle_mib": server.rss() / 2**20}
    for name, (path, script) in endpoints.items():
        if warm_up:
            wrk(server.url + path, 1, script)
        runs = [wrk(server.url + path, seconds, script) for _ in range(repeats)]
        result[name] = {key: Stats([r[key] for r in runs]).as_dict() for key in runs[0]}
    result["peak_mib"] = server.rss("VmHWM") / 2**20
    return result

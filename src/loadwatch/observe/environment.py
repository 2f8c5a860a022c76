"""What a run is measured in: the environment fingerprint (and its hash, which decides which history a run is
compared with), and whether the target was at rest before the load (the idle check)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import re
import socket
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from loadwatch.observations import IdleCheck

__all__ = [
    "HASHED_PACKAGES",
    "PACKAGES",
    "environment_fingerprint",
    "idle_check",
]

log = logging.getLogger("loadwatch")

PACKAGES = ("loadwatch", "aiohttp", "httptools", "uvloop", "psycopg", "sqlalchemy", "prefect", "psutil")
# Packages on the measured path (the generator's HTTP stack): their major version is part of the hash.
HASHED_PACKAGES = ("loadwatch", "aiohttp", "httptools", "uvloop")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):  # no /proc: the platform module's answer
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _os_name() -> str:
    with contextlib.suppress(OSError):  # no os-release: the kernel's name and release
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return f"{platform.system()} {platform.release()}"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _major(version: str | None) -> str | None:
    """`1.2.3` -> `1`; `0.21.4` -> `0.21` (under 1.0 a minor bump is the breaking one)."""
    if not version:
        return None
    parts = re.findall(r"\d+", version)
    if not parts:
        return version
    return parts[0] if parts[0] != "0" or len(parts) < 2 else f"0.{parts[1]}"


def _memory_class(total_bytes: int) -> str:
    """A power-of-two size class: 23.4 and 24 GiB (same VM type, different reservations) compare."""
    gib = total_bytes / 2**30
    return f">={2 ** int(math.log2(gib))}GiB" if gib >= 1 else "<1GiB"


def environment_fingerprint(*, plan_hash: str, target_version: str | None = None) -> tuple[dict[str, Any], str]:
    """(fingerprint, hash). The fingerprint records everything about where the run happened; the hash
    covers only what changes the numbers, so runs with the same hash may be compared:

    - in the hash: CPU model, usable CPU count (affinity), memory size class (power of two), OS family,
      Python major.minor, major versions of the packages on the measured path (loadwatch, aiohttp,
      httptools, uvloop), the target's version and the plan hash.
    - recorded but not hashed: hostname (CI runners get new names for identical hardware; hashing it
      would reset the history every time a runner is replaced), kernel release and distribution patch
      levels, exact package versions, and store/orchestration packages (psycopg, sqlalchemy, prefect),
      which are not on the path that makes a request. A change there shows in the record, not as a
      new baseline.
    """
    vm = psutil.virtual_memory()
    packages = {name: _version(name) for name in PACKAGES}
    python = platform.python_version()
    fingerprint: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_usable": _usable_cpus(),
        "memory_total_mb": round(vm.total / 2**20),
        "memory_class": _memory_class(vm.total),
        "os": platform.system(),
        "os_name": _os_name(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": python,
        "python_implementation": platform.python_implementation(),
        "packages": packages,
        "target_version": target_version,
        "plan_hash": plan_hash,
    }
    hashed = {
        "cpu_model": fingerprint["cpu_model"],
        "cpu_usable": fingerprint["cpu_usable"],
        "memory_class": fingerprint["memory_class"],
        "os": fingerprint["os"],
        "machine": fingerprint["machine"],
        "python": ".".join(python.split(".")[:2]),
        "packages": {name: _major(packages[name]) for name in HASHED_PACKAGES},
        "target_version": target_version,
        "plan_hash": plan_hash,
    }
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
    fingerprint["hashed_fields"] = sorted(hashed)
    return fingerprint, digest


def _cpu_seconds(procs: Mapping[int, psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for pid, proc in procs.items():
        try:
            t = proc.cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def idle_check(pids: set[int], *, seconds: float = 1.0, busy_cpu_percent: float = 20.0) -> IdleCheck:
    """Is the target busy before load? CPU of `pids` over `seconds` (counter deltas, % of one core)."""
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            procs[pid] = psutil.Process(pid)
        except psutil.Error:
            continue
    if not procs:
        return {"busy": False, "cpu_percent": None, "processes": 0, "seconds": 0.0}
    t0, before = time.monotonic(), _cpu_seconds(procs)
    time.sleep(max(seconds, 0.05))
    after, elapsed = _cpu_seconds(procs), time.monotonic() - t0
    used = sum(max(after[p] - before[p], 0.0) for p in after.keys() & before.keys())
    cpu = 100.0 * used / elapsed
    return {
        "busy": cpu >= busy_cpu_percent,
        "cpu_percent": round(cpu, 2),
        "processes": len(after),
        "seconds": round(elapsed, 3),
        "busy_cpu_percent": busy_cpu_percent,
    }

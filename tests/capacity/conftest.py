"""Loopback servers of known capacity (benchmarks/capacity_server.py), one subprocess each."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "benchmarks" / "capacity_server.py"
START_TIMEOUT_S = 20.0


def start_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(SERVER), *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    line = ""
    while time.monotonic() < deadline and not line.startswith("PORT "):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"capacity server {args} did not start")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


@pytest.fixture
def server() -> Iterator[Callable[..., str]]:
    """server("--mode", "pool", ...) -> base URL; every server started is stopped afterwards."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        proc, url = start_server(*args)
        procs.append(proc)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

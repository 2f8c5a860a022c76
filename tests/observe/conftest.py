"""Real child processes for the monitor tests: every one bounded in time and killed at teardown."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

SPIN = "import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
SLEEP = "import time\ntime.sleep({seconds})\n"


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """spawn(code, *args) -> a Python child running `code` (stdout piped, text); killed at teardown."""
    children: list[subprocess.Popen[str]] = []

    def start(code: str, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
        children.append(proc)
        return proc

    yield start
    for proc in children:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()

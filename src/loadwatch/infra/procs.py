"""Child servers loadwatch starts (Prefect's API server): wait until they answer, stop them with their group.

No Prefect here: `loadwatch run` uses this before Prefect is imported."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from loadwatch.errors import InfrastructureError

__all__ = ["stop_group", "wait_healthy"]


def wait_healthy(proc: subprocess.Popen[bytes], url: str, *, timeout: float, what: str, log_path: Path,
                 poll: float = 0.05) -> None:
    """Until `url` answers 200; InfrastructureError (naming `what` and its log) if the process exits or the
    time runs out, after stopping it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InfrastructureError(f"{what} exited with code {proc.returncode} while starting; see {log_path}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:  # OSError: not up yet
            if resp.status == 200:
                return
        time.sleep(poll)
    stop_group(proc)
    raise InfrastructureError(f"{what} did not answer within {timeout:g} s; see {log_path}")


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM to the process group the child leads (started with start_new_session), SIGKILL after `timeout`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

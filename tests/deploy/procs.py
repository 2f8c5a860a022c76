"""Real Prefect processes for the deployment tests: a `prefect server start` on a free loopback port, and
long-running children (worker, serve) that are always torn down with their whole process tree."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

__all__ = ["PREFECT", "api_get", "free_port", "prefect_server", "run", "spawn"]

PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_get(api: str, path: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(api.rstrip("/") + path, timeout=timeout) as resp:
        return json.loads(resp.read())


def api_post(api: str, path: str, body: Mapping[str, Any], timeout: float = 10.0) -> Any:
    req = urllib.request.Request(
        api.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def _stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group and every descendant (some re-group themselves), then SIGKILL leftovers."""
    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(family, timeout=20)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@contextlib.contextmanager
def spawn(
    cmd: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own session (so the whole group can be signalled), output to `log`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        _stop_tree(proc)


def run(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@contextlib.contextmanager
def prefect_server(home: Path, startup_timeout: float = 240.0) -> Iterator[tuple[str, dict[str, str]]]:
    """(api_url, env for clients) of a fresh `prefect server start` with its own PREFECT_HOME (SQLite)."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    with spawn([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log) as proc:
        api = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                api_get(api, "/health", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"prefect server not healthy after {startup_timeout} s:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.5)
        yield api, {**env, "PREFECT_API_URL": api}

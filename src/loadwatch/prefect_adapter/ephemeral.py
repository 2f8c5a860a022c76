"""Prefect's temporary API server for `loadwatch run`, started before Prefect is imported.

Without PREFECT_API_URL, Prefect 3 starts the same server itself (SubprocessASGIServer: uvicorn running
`prefect.server.api.server:create_app` with PREFECT__SERVER_EPHEMERAL=1) — but only when the flow is
called, after the flow module and the server module have been imported in this process. That is about
5 s of importing followed by about 6 s of server start-up, one after the other. Here the server process
starts first and boots on the other core while this process imports the flow; the flow then talks to it
through PREFECT_API_URL exactly as it would to Prefect's own temporary server (same app, same SQLite
database, same ephemeral services), and it is stopped when this process exits.

The listening socket is bound here and handed to uvicorn (`--fd`), so the port cannot be taken between
choosing it and using it. Prefect is not imported by this module."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from loadwatch.infra.procs import stop_group, wait_healthy

__all__ = ["EphemeralServer"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # A killed `loadwatch run` must not leave a Prefect server behind.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EphemeralServer:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.api_url = f"http://127.0.0.1:{port}/api"

    @classmethod
    def start(cls, log_path: Path) -> EphemeralServer:
        """Launch the server and set PREFECT_API_URL for this process; call before importing Prefect."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = int(sock.getsockname()[1])
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1"}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
                     "--fd", str(sock.fileno()), "--log-level", "error", "--lifespan", "on"],
                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    pass_fds=(sock.fileno(),), start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
        finally:
            sock.close()  # the child holds its own copy
        server = cls(proc, port, log_path)
        os.environ["PREFECT_API_URL"] = server.api_url
        # Registered before Prefect is imported, so it runs after Prefect's own exit hooks (atexit is
        # last-in, first-out; Prefect's log and event workers drain even earlier, at thread shutdown).
        atexit.register(server.stop)
        return server

    def wait_ready(self, timeout: float = 90.0) -> None:
        wait_healthy(self.proc, self.api_url + "/health", timeout=timeout, what="Prefect's temporary server",
                     log_path=self.log_path)

    def stop(self) -> None:
        stop_group(self.proc, timeout=10)

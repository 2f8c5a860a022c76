"""Long-running modes: `loadwatch serve` (the nightly schedule from one process, no work pool) and
`loadwatch server` (a Prefect server whose database is the embedded Postgres).

Prefect is imported lazily here: this module is core-side glue the CLI calls; it imports the flow,
never the reverse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

from loadwatch import pg
from loadwatch.procs import stop_group, wait_healthy

__all__ = ["prefect_database_url", "prefect_server", "serve_nightly"]


def serve_nightly(*, cron: str, timezone: str, name: str = "nightly",
                  params_overrides: dict[str, Any] | None = None) -> None:
    """Serve the flow on a cron schedule; the schedule is NOT paused when this process stops
    (restarts under systemd must not silently turn the nightly run off).

    Prefect's ephemeral API runs no scheduler, so without PREFECT_API_URL this starts its own Prefect
    server (on the embedded Postgres) for as long as it serves: one command, no other infrastructure."""
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = _start_local_server()
    try:
        _serve(cron=cron, timezone=timezone, name=name, params_overrides=params_overrides)
    finally:
        if server is not None:
            stop_group(server)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_local_server(timeout: float = 120.0) -> subprocess.Popen[bytes]:
    port = _free_port()
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = prefect_database_url()
    log_path = pg.data_dir() / "prefect-server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    wait_healthy(proc, api + "/health", timeout=timeout, what="the local Prefect server", log_path=log_path,
                 poll=0.5)
    os.environ["PREFECT_API_URL"] = api
    print(f"serving with a local Prefect server at http://127.0.0.1:{port} (UI there; log {log_path})",
          file=sys.stderr)
    return proc


def _serve(*, cron: str, timezone: str, name: str, params_overrides: dict[str, Any] | None) -> None:
    from prefect.schedules import Cron

    from loadwatch.flows.nightly import nightly
    from loadwatch.params import RunParams

    params = RunParams(trigger="serve", **(params_overrides or {}))
    nightly.serve(
        name=name,
        schedule=Cron(cron, timezone=timezone),
        parameters=params.model_dump(exclude_none=True),
        pause_on_shutdown=False,
        limit=1,  # two nightly runs must never overlap their load
    )


def prefect_database_url() -> str:
    """The embedded server's `prefect` database (pg_trgm enabled), as an asyncpg URL for Prefect."""
    admin = pg.embedded_admin_url()
    url = pg.ensure_database(admin, "prefect", ("pg_trgm",))
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def prefect_server(*, host: str, port: int) -> int:
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = prefect_database_url()
    print(f"Prefect server on http://{host}:{port} with its database in the embedded Postgres "
          f"({pg.redact_url(env['PREFECT_SERVER_DATABASE_CONNECTION_URL'])})", file=sys.stderr)
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
                            env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

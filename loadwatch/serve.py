"""Long-running modes: `loadwatch serve` (the nightly schedule from one process, no work pool) and
`loadwatch server` (a Prefect server whose database is the embedded Postgres).

Prefect is imported lazily here: this module is core-side glue the CLI calls; it imports the flow,
never the reverse."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from loadwatch import pg

__all__ = ["prefect_database_url", "prefect_server", "serve_nightly"]


def serve_nightly(*, cron: str, timezone: str, name: str = "nightly",
                  params_overrides: dict[str, Any] | None = None) -> None:
    """Serve the flow on a cron schedule; the schedule is NOT paused when this process stops
    (restarts under systemd must not silently turn the nightly run off)."""
    from prefect.schedules import Cron

    from loadwatch.flows.nightly import nightly
    from loadwatch.params import RunParams

    params = RunParams(trigger="serve", **(params_overrides or {}))
    nightly.serve(
        name=name,
        schedule=Cron(cron, timezone=timezone),
        parameters={"params": params.model_dump(exclude_none=True)},
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

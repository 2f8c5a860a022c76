"""The trend store: PostgreSQL through SQLAlchemy Core + psycopg 3; embedded server by default."""

from loadwatch.store.db import connect, make_engine, map_db_errors, migrate, resolve_database_url
from loadwatch.store.repo import (
    comparable_history,
    exclude_run,
    get_summary,
    history_points,
    list_change_points,
    recent_runs,
    run_exists,
    run_key,
    run_series,
    save_run,
    thin_windows,
    triage,
)
from loadwatch.store.spool import flush, pending, spool_dir, spool_write

__all__ = [
    "comparable_history",
    "connect",
    "exclude_run",
    "flush",
    "get_summary",
    "history_points",
    "list_change_points",
    "make_engine",
    "map_db_errors",
    "migrate",
    "pending",
    "recent_runs",
    "resolve_database_url",
    "run_exists",
    "run_key",
    "run_series",
    "save_run",
    "spool_dir",
    "spool_write",
    "thin_windows",
    "triage",
]

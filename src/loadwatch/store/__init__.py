"""The trend store: PostgreSQL through SQLAlchemy Core + psycopg 3; embedded server by default.

Every statement against the trend store is here: the named queries in sql/queries.sql (read by
`repo.query`), the schema in the numbered migrations beside them (`db.migrate`), and the one-load-per-target
advisory lock (`lock`). Other modules reach the store only through these functions. The local PostgreSQL server that
holds the store (and the demo target's database) is loadwatch.infra.postgres, below both: the demo service never
imports the store.

Not the store, and so not here: the SQL that *measures* the target's own database, i.e. pg_stat_database and
pg_stat_statements in loadwatch.observe.postgres_stats and the server discovery in loadwatch.observe.discovery (they run
against the target's URL, not the store's), and the demo service's own queries (loadwatch.demo.db)."""

from loadwatch.store.db import connect, make_engine, map_db_errors, migrate, resolve_database_url
from loadwatch.store.notices import (
    last_completed_run,
    log_notification,
    notified_plans,
    read_notify_state,
    write_notify_state,
)
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
    "last_completed_run",
    "list_change_points",
    "log_notification",
    "make_engine",
    "map_db_errors",
    "migrate",
    "notified_plans",
    "pending",
    "read_notify_state",
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
    "write_notify_state",
]

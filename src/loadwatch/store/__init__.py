"""The trend store: PostgreSQL through SQLAlchemy Core + psycopg 3; embedded server by default.

Every statement against the trend store is here: the named queries in sql/queries.sql (read by
`repo.query`), the schema in the numbered migrations beside them (`db.migrate`), and the one-load-per-target
advisory lock (`lock`). `embedded` runs the local PostgreSQL server that holds the store (and the demo target's
database). Other modules reach the store only through these functions.

Not the store, and so not here: the SQL that *measures* the target's own database, i.e. pg_stat_database and
pg_stat_statements in loadwatch.observe.counters and the server discovery in loadwatch.observe.discovery (they run
against the target's URL, not the store's), and the demo service's own queries (loadwatch.demo.db)."""

from typing import TYPE_CHECKING

from loadwatch.lazy import lazy_getattr

if TYPE_CHECKING:
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

# Imported on first use (PEP 562): the demo target imports loadwatch.store.embedded, and importing this package
# eagerly put SQLAlchemy and the repository into the demo service's process (+12 MB RSS, +23 %: the nightly gate
# flagged it on the demo's own rss_mb series). tests/store/test_store_imports.py pins it.
_HOME = {
    **dict.fromkeys(("connect", "make_engine", "map_db_errors", "migrate", "resolve_database_url"), "db"),
    **dict.fromkeys(("comparable_history", "exclude_run", "get_summary", "history_points", "list_change_points",
                     "recent_runs", "run_exists", "run_key", "run_series", "save_run", "thin_windows", "triage"),
                    "repo"),
    **dict.fromkeys(("flush", "pending", "spool_dir", "spool_write"), "spool"),
    **dict.fromkeys(("last_completed_run", "log_notification", "notified_plans", "read_notify_state",
                     "write_notify_state"), "notices"),
}


__getattr__ = lazy_getattr(__name__, _HOME, globals())


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

"""The target database's statistics: its `pg_stat_database` row and `pg_stat_statements` (snapshot, top
statements, and the deltas and totals over the load window). Run against the target's database URL, never the
store's."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Any, cast

import psycopg

from loadwatch.errors import InfrastructureError
from loadwatch.observations import StatementRow
from loadwatch.urls import redact_url

__all__ = [
    "DB_COUNTERS",
    "INTERVAL_ROWS",
    "QUERY_TEXT_CHARS",
    "SNAPSHOT_ROWS",
    "StatementCalls",
    "pg_database_counters",
    "pg_statement_snapshot",
    "pg_top_statements",
    "statement_deltas",
    "statement_totals",
]

log = logging.getLogger("loadwatch")

DB_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "blks_hit",
    "blks_read",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "deadlocks",
    "temp_files",
    "temp_bytes",
    "conflicts",
    "blk_read_time",
    "blk_write_time",
)
# long enough to reach a statement's FROM and WHERE past a long select list (attribution folds the list and shows
# those); 25 statements of a run stay under 25 KB of summary
QUERY_TEXT_CHARS = 1000
SNAPSHOT_ROWS = 5000  # pg_stat_statements.max defaults to 5000
_PG_TIMEOUT_S = 3


def _connect(database_url: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=_PG_TIMEOUT_S)
        conn.execute(f"SET statement_timeout = {_PG_TIMEOUT_S * 1000}")
        return conn
    except psycopg.Error as exc:
        raise InfrastructureError(f"database {redact_url(database_url)}: {str(exc).strip()}") from exc


def pg_database_counters(database_url: str) -> dict[str, float | str | None]:
    """The `pg_stat_database` row of the URL's database: the counters in DB_COUNTERS (numbers) and
    `stats_reset` (a timestamp, kept for the record). Gauges such as numbackends are left out so that
    every number here can be diffed with counter_deltas."""
    cols = ", ".join(DB_COUNTERS)
    with _connect(database_url) as conn:
        try:
            cur = conn.execute(f"SELECT {cols}, stats_reset FROM pg_stat_database WHERE datname = current_database()")
            row = cur.fetchone()
        except psycopg.Error as exc:
            raise InfrastructureError(f"database {redact_url(database_url)}: {str(exc).strip()}") from exc
    if row is None:
        return {}
    names = [*DB_COUNTERS, "stats_reset"]
    out: dict[str, float | str | None] = {}
    for name, value in zip(names, row, strict=True):
        if name == "stats_reset":
            out[name] = value.isoformat() if value is not None else None
        else:
            out[name] = float(value) if value is not None else None
    return out


def _statements_ready(conn: psycopg.Connection[Any]) -> bool:
    """pg_stat_statements is usable here: installed, or preloaded so it can be created (then it is)."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone():
        return True
    preload = conn.execute("SELECT current_setting('shared_preload_libraries', true)").fetchone()
    if not preload or "pg_stat_statements" not in (preload[0] or ""):
        return False
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except psycopg.Error as exc:  # no privilege: the statements are simply not reported
        log.info("pg_stat_statements not created: %s", str(exc).strip())
        return False
    return True


def _short(query: str | None) -> str:
    text = " ".join((query or "").split())
    return text if len(text) <= QUERY_TEXT_CHARS else text[: QUERY_TEXT_CHARS - 1] + "…"


def pg_statement_snapshot(database_url: str) -> dict[str, dict[str, Any]] | None:
    """Cumulative pg_stat_statements rows of this database, keyed by `userid:queryid:toplevel`; None when
    the extension is not available."""
    with _connect(database_url) as conn:
        try:
            if not _statements_ready(conn):
                return None
            cur = conn.execute(
                "SELECT s.userid, s.queryid, s.toplevel, s.query, s.calls, s.total_exec_time, s.rows,"
                " s.shared_blks_hit, s.shared_blks_read"
                " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
                " WHERE d.datname = current_database() AND s.queryid IS NOT NULL"
                " ORDER BY s.total_exec_time DESC LIMIT %s",
                (SNAPSHOT_ROWS,),
            )
            rows = cur.fetchall()
        except psycopg.Error as exc:
            log.info("pg_stat_statements unreadable: %s", str(exc).strip())
            return None
    snap: dict[str, dict[str, Any]] = {}
    for userid, queryid, toplevel, query, calls, total, nrows, hit, read in rows:
        snap[f"{userid}:{queryid}:{toplevel}"] = {
            "queryid": str(queryid),
            "query": _short(query),
            "calls": int(calls),
            "total_exec_time_ms": float(total),
            "rows": int(nrows),
            "shared_blks_hit": int(hit),
            "shared_blks_read": int(read),
        }
    return snap


def _statement_row(row: Mapping[str, Any]) -> StatementRow:
    calls = row["calls"]
    return cast(StatementRow, {**row, "mean_exec_time_ms": round(row["total_exec_time_ms"] / calls, 4) if calls
                               else None})


def pg_top_statements(database_url: str, *, limit: int = 10) -> list[StatementRow]:
    """Top `limit` statements of this database by total execution time since the statistics were last
    reset (lifetime); [] when pg_stat_statements is absent. For a window, use statement_deltas."""
    snap = pg_statement_snapshot(database_url)
    if not snap:
        return []
    rows = sorted(snap.values(), key=lambda r: r["total_exec_time_ms"], reverse=True)[: max(limit, 0)]
    return [_statement_row(r) for r in rows]


def statement_totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Sums over window delta rows (statement_deltas with no limit): what the database did for the target."""
    keys = ("calls", "total_exec_time_ms", "rows", "shared_blks_hit", "shared_blks_read")
    out = {k: 0.0 for k in keys}
    n = 0
    for r in rows:
        n += 1
        for k in keys:
            out[k] += float(r.get(k) or 0)
    out["total_exec_time_ms"] = round(out["total_exec_time_ms"], 4)
    out["statements"] = float(n)
    return out


def statement_deltas(
    pre: Mapping[str, Mapping[str, Any]], post: Mapping[str, Mapping[str, Any]], *, limit: int = 10
) -> list[StatementRow]:
    """Top `limit` statements by total execution time *over the window* between two snapshots. A statement
    new in `post` (or whose counters went down: evicted and re-added, or reset) counts from zero."""
    out = []
    for key, b in post.items():
        a = pre.get(key)
        if a is None or b["calls"] < a["calls"] or b["total_exec_time_ms"] < a["total_exec_time_ms"]:
            a = {"calls": 0, "total_exec_time_ms": 0.0, "rows": 0, "shared_blks_hit": 0, "shared_blks_read": 0}
        calls = b["calls"] - a["calls"]
        if calls <= 0:
            continue
        row = {
            "queryid": b["queryid"],
            "query": b["query"],
            "calls": calls,
            "total_exec_time_ms": round(b["total_exec_time_ms"] - a["total_exec_time_ms"], 4),
            "rows": b["rows"] - a["rows"],
            "shared_blks_hit": b["shared_blks_hit"] - a["shared_blks_hit"],
            "shared_blks_read": b["shared_blks_read"] - a["shared_blks_read"],
        }
        out.append(_statement_row(row))
    out.sort(key=lambda r: r["total_exec_time_ms"], reverse=True)
    return out[: max(limit, 0)]


# The per-interval reading: pg_stat_statements(false) skips the query texts (a file read per call through the view),
# and one connection is kept for the whole load (a connection a second would itself show in the database group).
INTERVAL_ROWS = 500  # statements read per interval, the most called first: bounded, whatever the server holds
_INTERVAL_CALLS = (
    "SELECT s.queryid::text, sum(s.calls)::bigint FROM pg_stat_statements(false) s"
    " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.queryid IS NOT NULL"
    " GROUP BY s.queryid ORDER BY 2 DESC LIMIT %s"
)


class StatementCalls:
    """Cumulative calls per queryid of the URL's database, read cheaply and often over one open connection
    (`read`); `backend_pid` is that connection's server process, which the monitor leaves out of its process groups
    (loadwatch's reading is not the target's work). Never raises after `open`: a failed reading closes it and keeps
    the reason in `error`."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.conn: psycopg.Connection[Any] | None = None
        self.backend_pid: int | None = None
        self.error: str | None = None

    def open(self) -> bool:
        """Connect; False (with `error`) when the database or pg_stat_statements cannot be read."""
        try:
            self.conn = _connect(self.database_url)
            if not _statements_ready(self.conn):
                self.close("pg_stat_statements is not available")
                return False
            row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
            self.backend_pid = int(row[0]) if row else None
        except (InfrastructureError, psycopg.Error) as exc:
            self.close(str(getattr(exc, "message", exc)).strip())
            return False
        return True

    def read(self) -> dict[str, int] | None:
        """queryid -> calls since the statistics were reset (several users or nesting levels added up); None once
        a reading failed."""
        if self.conn is None:
            return None
        try:
            rows = self.conn.execute(_INTERVAL_CALLS, (INTERVAL_ROWS,)).fetchall()
        except psycopg.Error as exc:
            self.close(str(exc).strip())
            return None
        return {str(q): int(c) for q, c in rows}

    def close(self, error: str | None = None) -> None:
        if error is not None and self.error is None:
            log.warning("monitor: statement calls per interval unavailable: %s", error)
            self.error = error
        if self.conn is not None:
            with suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

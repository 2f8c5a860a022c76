"""The target's database against the real embedded PostgreSQL: its processes, pg_stat_database counters,
pg_stat_statements (lifetime top and window deltas), and the monitor's database window."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import psutil
import psycopg
import pytest

from loadwatch.errors import InfrastructureError
from loadwatch.observe import discovery as disc
from loadwatch.observe import monitor as mon
from loadwatch.observe import postgres_stats as bl
from loadwatch.observe.deltas import counter_deltas


def _work(url: str, rows: int = 200) -> str:
    """Real statements in their own connection (closing it flushes the backend's statistics)."""
    table = f"lw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int primary key, v text)")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(i, f"v{i}") for i in range(rows)])
        for _ in range(20):
            conn.execute(f"SELECT count(*) FROM {table} WHERE v LIKE 'v1%%'").fetchone()
    return table


def test_postgres_pids_are_the_local_server(fresh_db):
    pids = disc.postgres_pids(fresh_db)
    assert len(pids) >= 2, f"postmaster and its auxiliary processes, found {sorted(pids)}"
    names = set()
    for pid in pids:
        # a backend of an earlier test's dropped database may exit between the listing and this read
        with contextlib.suppress(psutil.Error):
            names.add(psutil.Process(pid).name())
    assert any("postgres" in n for n in names), names
    with psycopg.connect(fresh_db) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert backend in disc.postgres_pids(fresh_db), "a new backend is a child and is picked up"


def test_postgres_pids_of_an_unreachable_server_is_empty():
    assert disc.postgres_pids("postgresql://nobody@127.0.0.1:1/none") == set()
    assert disc.postgres_pids("postgresql://nobody@127.0.0.1:1/none") == set(), "and the retry is deferred"


def test_database_counters_and_deltas(fresh_db):
    pre = bl.pg_database_counters(fresh_db)
    assert set(bl.DB_COUNTERS) <= pre.keys()
    _work(fresh_db, rows=300)
    post = bl.pg_database_counters(fresh_db)
    d = counter_deltas(pre, post)
    assert d["delta"]["tup_inserted"] >= 300
    assert d["delta"]["xact_commit"] > 0
    assert d["resets"] == []
    assert "stats_reset" not in d["delta"], "timestamps are not counters"


def test_database_counters_of_a_missing_server_raise_infrastructure_error():
    with pytest.raises(InfrastructureError) as info:
        bl.pg_database_counters("postgresql://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in info.value.message


def test_top_statements_lifetime_and_window(fresh_db, pg_admin_url):
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
    if "pg_stat_statements" not in preload:
        assert bl.pg_top_statements(fresh_db) == []
        return
    before = bl.pg_statement_snapshot(fresh_db)
    assert before is not None, "the extension is created in the database it is read from"
    table = _work(fresh_db)
    after = bl.pg_statement_snapshot(fresh_db)
    assert after is not None
    window = bl.statement_deltas(before, after, limit=50)
    texts = [r["query"] for r in window]
    assert any(f"INSERT INTO {table}" in q for q in texts)
    insert = next(r for r in window if f"INSERT INTO {table}" in r["query"])
    assert insert["calls"] == 200 and insert["total_exec_time_ms"] > 0 and insert["mean_exec_time_ms"] > 0
    top = bl.pg_top_statements(fresh_db, limit=3)
    assert 1 <= len(top) <= 3
    assert top == sorted(top, key=lambda r: r["total_exec_time_ms"], reverse=True)
    assert all(len(r["query"]) <= bl.QUERY_TEXT_CHARS for r in top)


def test_monitor_database_group_and_window(fresh_db):
    stop = threading.Event()
    groups = [mon.ProcessGroup("database", lambda: disc.postgres_pids(fresh_db))]
    out: dict = {}
    monitor = mon.Monitor(groups, interval=0.25, database_url=fresh_db)
    th = threading.Thread(target=lambda: out.update(r=monitor.run(stop, max_duration=60)), daemon=True)
    th.start()
    stop.wait(0.4)
    inserted_before = bl.pg_database_counters(fresh_db)["tup_inserted"]
    table = _work(fresh_db, rows=500)
    # a backend is sampled only while it lives: keep one working across several samples (500 inserts alone take less
    # than one 0.25 s interval on a quiet machine, and a process seen once has no CPU reading)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            conn.execute("SELECT sum(i) FROM generate_series(1, 200000) AS i").fetchone()
    # a backend publishes its statistics as it exits, just after the client has closed: wait until visible
    for _ in range(100):
        if bl.pg_database_counters(fresh_db)["tup_inserted"] >= inserted_before + 500:
            break
        stop.wait(0.1)
    stop.wait(0.3)
    stop.set()
    th.join(timeout=60)
    assert not th.is_alive()
    result: mon.MonitorResult = out["r"]
    db_samples = [s for s in result.samples if s["group"] == "database"]
    assert db_samples and all(s["processes"] >= 2 and s["rss_mb"] > 0 for s in db_samples)
    assert max(s["cpu_percent"] for s in db_samples) > 0, "the server worked during the window"
    db = result.database
    assert db["tup_inserted"] >= 500
    assert db["window_s"] > 0
    assert set(bl.DB_COUNTERS) <= db.keys()
    summary = result.summary()
    assert summary["database"]["tup_inserted"] == db["tup_inserted"]
    if db["top_statements"]:
        assert any(table in r["query"] for r in db["top_statements"])
    assert summary["database"]["samples"] == len(db_samples), "group figures and counters share the block"
    assert summary["database"]["rss_mb"]["max"] > 0


def _reading_calls(url: str) -> int:
    """How many times the monitor's per-interval reading has run against this database (its own statement)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s AND dbid ="
                           " (SELECT oid FROM pg_database WHERE datname = current_database())",
                           ("SELECT s.queryid::text, sum(s.calls)%",)).fetchone()
    return int(row[0]) if row else 0


def _until(check, stop: threading.Event) -> None:
    for _ in range(600):
        if check():
            return
        stop.wait(0.05)
    pytest.fail("the monitor never read the statements' calls")


def test_monitor_reads_the_statements_calls_in_every_interval(fresh_db):
    table = f"lw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int primary key)")
        conn.execute(f"INSERT INTO {table} SELECT generate_series(1, 100)")
        # the monitor creates it too, at its opening snapshot; the count of its readings below needs it first
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    stop = threading.Event()
    monitor = mon.Monitor([mon.ProcessGroup("database", lambda: disc.postgres_pids(fresh_db))], interval=0.25,
                          database_url=fresh_db)
    out: dict = {}
    before = _reading_calls(fresh_db)
    th = threading.Thread(target=lambda: out.update(r=monitor.run(stop, max_duration=60)), daemon=True)
    th.start()
    _until(lambda: _reading_calls(fresh_db) > before, stop)  # the first reading is in: every call below counts
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        for burst in range(3):
            for i in range(10):
                conn.execute(f"SELECT count(*) FROM {table} WHERE id > %s", (burst * 10 + i,)).fetchone()
            # two readings more (the second began after the burst had ended): each burst in intervals of its own
            seen = _reading_calls(fresh_db)
            _until(lambda seen=seen: _reading_calls(fresh_db) > seen + 1, stop)
    stop.set()
    th.join(timeout=60)
    assert not th.is_alive()
    result: mon.MonitorResult = out["r"]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        qid = str(conn.execute("SELECT queryid FROM pg_stat_statements WHERE query LIKE %s",
                               (f"SELECT count(*) FROM {table}%",)).fetchone()[0])
    block = result.statement_intervals
    assert block is not None and "error" not in block
    calls = block["calls"][qid]
    assert sum(calls) == 30 and len([c for c in calls if c]) >= 3
    assert len(calls) == len(block["t"]) == len(block["interval_s"]) >= 3
    assert block["t"] == sorted(block["t"]) and all(d > 0 for d in block["interval_s"])
    assert block["reads"] == len(block["t"]) + 1 and block["read_ms"] > 0
    assert block["backend_cpu_s"] is not None  # the server is on this machine
    # loadwatch's own reading is not one of the target's statements; the summary carries the block
    assert set(block["calls"]) == {str(r["queryid"]) for r in result.database["top_statements"]}
    assert not any("pg_stat_statements" in r["query"] for r in result.database["top_statements"])
    assert result.summary()["database"]["statement_intervals"] is block


def test_statement_calls_of_a_database_that_is_not_there_say_why():
    calls = bl.StatementCalls("postgresql://nobody:secret@127.0.0.1:1/none")
    assert calls.open() is False
    assert calls.error and "secret" not in calls.error
    assert calls.read() is None

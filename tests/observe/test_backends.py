"""The busy-machine check's database processes: the backends serving the target's database, not the whole server
(its background workers and other databases' backends wait for a CPU on a busy machine without delaying a request)."""

from __future__ import annotations

import psycopg

from loadwatch.observe.discovery import database_backends, postgres_pids


def test_the_backends_of_the_targets_database_only(fresh_db, pg_admin_url):
    with psycopg.connect(fresh_db) as mine, psycopg.connect(pg_admin_url) as other:
        mine_pid = mine.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        other_pid = other.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        backends = database_backends(fresh_db)
        server = postgres_pids(fresh_db)
    assert mine_pid in backends and other_pid not in backends
    assert backends < server  # the postmaster and its background workers are left out

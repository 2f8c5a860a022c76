"""One load at a time per target: a session-level Postgres advisory lock held for the run's load.

Two runs against the same target would measure each other. The second waits (bounded) for the first and
then refuses with a message naming the run that holds the target."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from loadwatch.errors import InfrastructureError, StoreUnavailable
from loadwatch.infra.postgres import CONNECT_TIMEOUT_S
from loadwatch.urls import redact_url

__all__ = ["DEFAULT_WAIT_S", "lock_key", "target_lock"]

DEFAULT_WAIT_S = 30.0
_APP = "loadwatch-lock:"


def lock_key(target: str) -> int:
    """A stable signed 64-bit key for a target identity (its URL, or `demo`)."""
    return int.from_bytes(hashlib.sha256(target.encode()).digest()[:8], "big", signed=True)


@contextmanager
def target_lock(database_url: str, target: str, *, run_id: str, wait_s: float = DEFAULT_WAIT_S) -> Iterator[None]:
    key = lock_key(target)
    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name=_APP + run_id)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"trend store ({redact_url(database_url)}): {exc}") from exc
    try:
        deadline = time.monotonic() + wait_s
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() >= deadline:
                unsigned = key & 0xFFFFFFFFFFFFFFFF  # pg_locks shows a bigint key as two unsigned 32-bit oids
                holder = conn.execute(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                    " AND l.classid = %s::oid AND l.objid = %s::oid",
                    (unsigned >> 32, unsigned & 0xFFFFFFFF),
                ).fetchone()
                who = holder[0].removeprefix(_APP) if holder and holder[0] else "another run"
                raise InfrastructureError(
                    f"target {target} is being loaded by run {who}; waited {wait_s:g} s. Two runs against one "
                    "target would measure each other: try again when it finishes"
                )
            time.sleep(0.5)
        yield
    finally:
        # released explicitly: the server frees a closed session's locks only when its backend has exited, which on a
        # busy machine came after the next run's try (a run ending is then refused to the one that follows it);
        # closing the session still releases the lock after a crash of this process
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock_all()")
        conn.close()

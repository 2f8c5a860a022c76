"""One load at a time per target: a session-level Postgres advisory lock held for the run's load.

Two runs against the same target would measure each other. The second waits (bounded) for the first and
then refuses with a message naming the run that holds the target.

The lock lives in the trend store's server: when the store goes away during a run, the lock goes with it. A holder
asks `TargetLock.held()` before each further load (the capacity stage) and re-takes it (`retake`) or skips that
load, never loads without it."""

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

__all__ = ["DEFAULT_WAIT_S", "TargetLock", "lock_key", "target_lock"]

DEFAULT_WAIT_S = 30.0
_APP = "loadwatch-lock:"
# a lock session whose server vanished from the network (not only stopped) is known dead in seconds, not after the
# kernel's retransmission timeout: a held() check must not hang a run that has measured its night
_TCP_DEAD_MS = 10_000


def lock_key(target: str) -> int:
    """A stable signed 64-bit key for a target identity (its URL, or `demo`)."""
    return int.from_bytes(hashlib.sha256(target.encode()).digest()[:8], "big", signed=True)


class TargetLock:
    """The target's advisory lock, held by one session of the trend store's server."""

    def __init__(self, database_url: str, target: str, *, run_id: str) -> None:
        self.database_url = database_url
        self.target = target
        self.run_id = run_id
        self.key = lock_key(target)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def take(self, wait_s: float) -> None:
        """Take the lock, waiting up to `wait_s` for a run holding it. StoreUnavailable when the store cannot be
        reached, InfrastructureError naming the holder when the wait ends."""
        self.release()
        try:
            conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   application_name=_APP + self.run_id, keepalives=1, keepalives_idle=5,
                                   keepalives_interval=2, keepalives_count=3, tcp_user_timeout=_TCP_DEAD_MS)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"trend store ({redact_url(self.database_url)}): {exc}") from exc
        try:
            self._wait(conn, wait_s)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _wait(self, conn: psycopg.Connection[tuple[object, ...]], wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        try:
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() >= deadline:
                    raise InfrastructureError(
                        f"target {self.target} is being loaded by run {self._holder(conn)}; waited {wait_s:g} s. "
                        "Two runs against one target would measure each other: try again when it finishes"
                    )
                time.sleep(0.5)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"trend store ({redact_url(self.database_url)}): {exc}") from exc

    def _holder(self, conn: psycopg.Connection[tuple[object, ...]]) -> str:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF  # pg_locks shows a bigint key as two unsigned 32-bit oids
        holder = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.classid = %s::oid AND l.objid = %s::oid",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchone()
        return str(holder[0]).removeprefix(_APP) if holder and holder[0] else "another run"

    def held(self) -> bool:
        """Whether the session holding the lock is still alive (a store that went away took the lock with it)."""
        if self._conn is None or self._conn.closed:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def retake(self, wait_s: float = 0.0) -> None:
        """Hold the lock again if its session was lost: nothing when it still holds; else as `take`."""
        if not self.held():
            self.take(wait_s)

    def release(self) -> None:
        """Release the lock and close its session (a lost session released it already)."""
        if self._conn is not None:
            # released explicitly: the server frees a closed session's locks only when its backend has exited, which
            # on a busy machine came after the next run's try (a run ending is then refused to the one that follows
            # it); closing the session still releases the lock after a crash of this process
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock_all()")
            self._conn.close()
            self._conn = None


@contextmanager
def target_lock(
    database_url: str, target: str, *, run_id: str, wait_s: float = DEFAULT_WAIT_S
) -> Iterator[TargetLock]:
    """Hold the target's lock for the block (see TargetLock.take for the errors)."""
    lock = TargetLock(database_url, target, run_id=run_id)
    lock.take(wait_s)
    try:
        yield lock
    finally:
        lock.release()

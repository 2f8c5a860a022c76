"""Two runs against one target never overlap their load: the second waits, then refuses by name."""

from __future__ import annotations

import threading
import time

import pytest

from loadwatch.errors import InfrastructureError
from loadwatch.store.lock import target_lock


def test_second_run_refuses_naming_the_holder(fresh_db):
    with target_lock(fresh_db, "http://127.0.0.1:8080", run_id="first-run"):
        with (
            pytest.raises(InfrastructureError, match="first-run") as err,
            target_lock(fresh_db, "http://127.0.0.1:8080", run_id="second", wait_s=0.6),
        ):
            pass
        assert err.value.exit_code == 3
        # a different target is independent
        with target_lock(fresh_db, "http://127.0.0.1:9090", run_id="other", wait_s=0):
            pass
    with target_lock(fresh_db, "http://127.0.0.1:8080", run_id="third", wait_s=0):
        pass


def test_second_run_waits_for_the_first(fresh_db):
    order: list[str] = []

    def first() -> None:
        with target_lock(fresh_db, "demo", run_id="a"):
            order.append("a-start")
            time.sleep(1.0)
            order.append("a-end")

    t = threading.Thread(target=first)
    t.start()
    while not order:
        time.sleep(0.05)
    with target_lock(fresh_db, "demo", run_id="b", wait_s=30):
        order.append("b-start")
    t.join()
    assert order == ["a-start", "a-end", "b-start"]


def test_a_lost_session_is_seen_and_the_lock_taken_again(fresh_db):
    """The lock lives in the store's server: when its session goes (the store restarted, the connection cut), the
    holder knows it is no longer held, another run may take the target, and `retake` refuses by name meanwhile."""
    import psycopg

    with target_lock(fresh_db, "demo", run_id="night") as lock:
        assert lock.held()
        with psycopg.connect(fresh_db, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE application_name = 'loadwatch-lock:night'")
        assert not lock.held()
        with target_lock(fresh_db, "demo", run_id="intruder", wait_s=0):  # the target is free to another run now
            with pytest.raises(InfrastructureError, match="intruder"):
                lock.retake(wait_s=0)
            assert not lock.held()
        lock.retake(wait_s=0)
        assert lock.held()
        with pytest.raises(InfrastructureError, match="night"), target_lock(fresh_db, "demo", run_id="third", wait_s=0):
            pass

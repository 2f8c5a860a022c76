"""The store's notification state against a real PostgreSQL: the state round trip, the attempt log, the plan's last
completed run (failed preflights and later runs left out), the plans the watchdog knows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loadwatch import store
from loadwatch.record import RunRecord, RunSummary

T0 = datetime(2026, 12, 1, 2, tzinfo=UTC)


def _save(engine, run_id: str, started: datetime, status: str = "completed") -> None:
    summary = RunSummary(run_id=run_id, status=status, started_at=started.isoformat(),  # type: ignore[arg-type]
                         finished_at=started.isoformat(), verdict="pass" if status == "completed" else "failed",
                         trigger="cli", plan={"name": "catalog", "hash": "h"}, environment={"hash": "e"})
    store.save_run(engine, RunRecord(summary=summary, status=summary.status, trigger="cli"))


def test_state_log_and_last_completed_run(engine):
    _save(engine, "r1", T0)
    _save(engine, "r2", T0 + timedelta(days=1))
    _save(engine, "r3", T0 + timedelta(days=2), status="failed_preflight")
    with engine.begin() as conn:
        assert store.read_notify_state(conn, "catalog") is None
        assert store.last_completed_run(conn, "catalog") == T0 + timedelta(days=1)
        assert store.last_completed_run(conn, "catalog", before=T0 + timedelta(days=1)) == T0
        assert store.last_completed_run(conn, "other") is None
        store.write_notify_state(conn, "catalog", '{"inconclusive_streak": 2}')
        store.log_notification(conn, plan="catalog", run_id="r2", channel="json://h #abc", kinds=["opened"],
                               title="t", body="b", delivered=False, error="refused")
    with engine.begin() as conn:
        assert store.read_notify_state(conn, "catalog") == {"inconclusive_streak": 2}
        store.write_notify_state(conn, "catalog", '{"inconclusive_streak": 3}')  # replaced, not added
        assert store.notified_plans(conn) == ["catalog"]
    with engine.connect() as conn:
        assert store.read_notify_state(conn, "catalog") == {"inconclusive_streak": 3}
        rows = conn.exec_driver_sql("SELECT plan_name, run_id, kinds, delivered, error FROM notifications").all()
    assert [tuple(r) for r in rows] == [("catalog", "r2", ["opened"], False, "refused")]

"""Done when (issue 22): a real loopback webhook receiver gets exactly the expected messages over a sequence of
nights: a new change (large: told on its first night), its weekly reminder, its recovery, a missed night (told by
the watchdog, not again by the night after it), a smaller change told on its second night, while the receiver was
down, and delivered the next night. Real stored runs in the embedded Postgres, real Apprise `json://` delivery; the
nights go through the notification stage with the plan's default rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from notify_receiver import Receiver

from loadwatch import store
from loadwatch.changes import ChangeStatus, OpenChange
from loadwatch.config import NotifySpec, Plan, parse_plan
from loadwatch.notify.stage import night_input, notify_night, watch_missed
from loadwatch.record import RunRecord, RunSummary

DAY0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def _plan(url: str) -> Plan:
    plan = parse_plan({"name": "catalog", "load": {"rate": 10, "duration": 5},
                       "scenarios": [{"name": "list_tools", "path": "/"}]})
    spec = NotifySpec(urls=[url], report_url="https://reports.example/lw", prefect_ui_url="http://127.0.0.1:4200")
    return plan.model_copy(update={"notify": spec})


def _change(status: ChangeStatus, day: int, *, cid: str = "c1", since: int = 4) -> OpenChange:
    size, ci = (120.0, (105.0, 140.0)) if cid == "c1" else (41.2, (35.0, 47.9))  # c1 large, c2 not
    return OpenChange(change_id=cid, scenario="list_tools", metric="p95_ms", status=status, change_percent=size,
                      ci=ci, first_run_id=f"n{since}",
                      first_seen_at=(DAY0 + timedelta(days=since)).isoformat(),
                      nights_open=day - since + 1, failing=status == "open", seen_tonight=True)


def _night(url: str, plan: Plan, day: int, verdict: str = "pass", changes: tuple[OpenChange, ...] = ()):
    """Store night `day` as a completed run, then run its notification stage an hour later."""
    started = DAY0 + timedelta(days=day)
    summary = RunSummary(run_id=f"n{day}", status="completed", started_at=started.isoformat(),
                         finished_at=(started + timedelta(minutes=2)).isoformat(), verdict=verdict,  # type: ignore[arg-type]
                         verdict_reasons=["p95_ms of list_tools +41 %"] if changes else [], trigger="schedule",
                         flow_run_id=f"fr-{day}", plan={"name": plan.name, "hash": "h"}, environment={"hash": "e"})
    engine = store.connect(url)
    try:
        store.save_run(engine, RunRecord(summary=summary, status="completed", trigger="schedule"))
    finally:
        engine.dispose()
    return notify_night(night_input(plan, summary, list(changes), None), url, now=started + timedelta(hours=1))


def test_a_receiver_gets_exactly_the_expected_messages_over_the_nights(fresh_db, receiver):
    plan = _plan(receiver.url)
    for day in range(4):  # clean nights: silence
        assert _night(fresh_db, plan, day).events == []
    assert receiver.messages == []

    assert _night(fresh_db, plan, 4, "regression", (_change("open", 4),)).events == ["opened"]
    for day in range(5, 11):  # still open, reminder not due: silence
        assert _night(fresh_db, plan, day, "regression", (_change("open", day),)).events == []
    assert _night(fresh_db, plan, 11, "regression", (_change("open", 11),)).events == ["reminder"]
    assert _night(fresh_db, plan, 12, "pass", (_change("recovered", 12),)).events == ["recovered"]
    assert len(receiver.messages) == 3

    # no night 13: the watchdog tells it once, 26 h after night 12
    gap = DAY0 + timedelta(days=12, hours=26)
    assert watch_missed(plan.name, plan.notify, fresh_db, now=gap).events == ["missed"]
    assert watch_missed(plan.name, plan.notify, fresh_db, now=gap + timedelta(hours=6)).events == []
    assert len(receiver.messages) == 4

    # night 14: a smaller change opens; held (the missed night was told already)
    assert _night(fresh_db, plan, 14, "regression", (_change("open", 14, cid="c2", since=14),)).events == []
    receiver.stop()  # down for night 15, when it is told: the run goes on with a warning
    down = _night(fresh_db, plan, 15, "regression", (_change("open", 15, cid="c2", since=14),))
    assert down.events == ["opened"] and down.delivered == 0
    assert len(down.warnings) == 1 and "json://127.0.0.1" in down.warnings[0] and "sent again" in down.warnings[0]
    receiver.start()
    up = _night(fresh_db, plan, 16, "regression", (_change("open", 16, cid="c2", since=14),))
    assert up.events == [] and up.delivered == 1 and up.warnings == []  # night 15's message, delivered now
    assert _night(fresh_db, plan, 17, "regression", (_change("open", 17, cid="c2", since=14),)).events == []

    got = [(m["path"], m["title"]) for m in receiver.messages]
    assert got == [
        ("/hook", "loadwatch catalog: new change"),
        ("/hook", "loadwatch catalog: still open"),
        ("/hook", "loadwatch catalog: recovered"),
        ("/hook", "loadwatch catalog: missed night"),
        ("/hook", "loadwatch catalog: new change"),
    ]
    new = receiver.messages[0]["message"]
    assert new.startswith("REGRESSION: p95_ms of list_tools +41 %")
    assert "- NEW CHANGE: list_tools p95_ms +120.0 % [+105.0, +140.0] since 2026-12-05, open 1 night (open)" in new
    assert "Open changes (1):" in new
    assert "Report: https://reports.example/lw/n4/report.html" in new
    assert "Prefect flow run: http://127.0.0.1:4200/runs/flow-run/fr-4" in new
    assert "open 8 nights" in receiver.messages[1]["message"]
    assert "no completed run for 26 h" in receiver.messages[3]["message"]
    last = receiver.messages[4]["message"]
    assert "Report: https://reports.example/lw/n15/report.html" in last
    assert "list_tools p95_ms +41.2 % [+35.0, +47.9] since 2026-12-15, open 2 nights (open)" in last

    with psycopg.connect(fresh_db) as conn:  # every attempt is logged, the failed one with its reason
        log = conn.execute("SELECT run_id, delivered, error IS NOT NULL FROM notifications ORDER BY id").fetchall()
    assert log == [("n4", True, False), ("n11", True, False), ("n12", True, False), (None, True, False),
                   ("n15", False, True), ("n15", True, False)]

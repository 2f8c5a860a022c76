"""`loadwatch watchdog` against a real store and a real loopback receiver: a missed night is told once, exit 1;
a plan that ran recently exits 0 and says nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify_receiver import Receiver

from loadwatch import store
from loadwatch.cli import main
from loadwatch.record import RunRecord, RunSummary


def _store_run(url: str, hours_ago: float) -> None:
    started = datetime.now(UTC) - timedelta(hours=hours_ago)
    summary = RunSummary(run_id=f"r{hours_ago:g}", status="completed", started_at=started.isoformat(),
                         finished_at=started.isoformat(), verdict="pass", trigger="schedule",
                         plan={"name": "tool_catalog", "hash": "h"}, environment={"hash": "e"})
    engine = store.connect(url)
    try:
        store.save_run(engine, RunRecord(summary=summary, status="completed", trigger="schedule"))
    finally:
        engine.dispose()


def test_the_watchdog_tells_a_missed_night_once(fresh_db, capsys):
    receiver = Receiver()
    try:
        argv = ["watchdog", "--notify", receiver.url, "--database-url", fresh_db]
        assert main(argv) == 0  # nothing ever ran: nothing to miss
        _store_run(fresh_db, 30)
        assert main(argv) == 1
        assert main(argv) == 0  # told already
        _store_run(fresh_db, 2)
        assert main([*argv, "--max-gap-hours", "1"]) == 1  # a new silence, with a shorter allowance
    finally:
        receiver.stop()
    titles = [m["title"] for m in receiver.messages]
    assert titles == ["loadwatch tool_catalog: missed night"] * 2
    assert "no completed run for 30 h" in receiver.messages[0]["message"]
    assert "allowed 25 h" in receiver.messages[0]["message"]
    assert "missed night, told" in capsys.readouterr().err

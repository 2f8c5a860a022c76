"""The flow's notify task (tasks/notify.py) over the real store and a real loopback receiver, called through `.fn()`:
it hands back the stage's outcome and never raises for a channel that is down."""

from __future__ import annotations

from datetime import UTC, datetime

from notify_receiver import Receiver

from loadwatch.config import NotifySpec
from loadwatch.notify.events import Night
from loadwatch.notify.stage import NotifyInput


def test_the_notify_task_tells_and_survives_a_channel_that_is_down(fresh_db):
    from prefect.logging import disable_run_logger

    from loadwatch.tasks.notify import notify_task

    receiver = Receiver()
    up = NotifySpec(urls=[receiver.url])
    night = Night(run_id="r1", started_at=datetime(2026, 12, 7, 2, tzinfo=UTC), verdict="failed",
                  reasons=["target http://127.0.0.1:9 not reachable"])
    try:
        with disable_run_logger():
            told = notify_task.fn(NotifyInput(plan_name="p", notify=up, night=night), fresh_db)
            receiver.stop()
            later = night.model_copy(update={"run_id": "r2", "verdict": "crashed", "reasons": ["boom"]})
            down = notify_task.fn(NotifyInput(plan_name="q", notify=up, night=later), fresh_db)
    finally:
        receiver.stop()
    assert told.events == ["crashed"] and told.delivered == 1 and told.warnings == []
    assert down.events == ["crashed"] and down.delivered == 0 and "sent again next run" in down.warnings[0]
    assert [m["title"] for m in receiver.messages] == ["loadwatch p: did not measure"]

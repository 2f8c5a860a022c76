"""The readings of the two inconclusive rules (busy machine, generator-bound) are in the report whatever they
decided, each beside its bound (issue 22 item 9)."""

from __future__ import annotations

from loadwatch.report.render import render_markdown
from loadwatch.report.view import build_view


def _data(contention: dict, late_share: float) -> dict:
    summary = {
        "run_id": "r1", "started_at": "2026-12-07T06:00:00+00:00", "finished_at": "2026-12-07T06:01:00+00:00",
        "verdict": "pass", "status": "completed", "trigger": "ci",
        "load": {"requests": 300, "errors": 0, "rps": 50.0, "latency_ms": {"p50": 1.0, "p95": 3.0, "p99": 5.0},
                 "generator_bound": False, "generator": {"schedule_late_share": late_share, "reasons": []}},
        "target_stats": {"contention": contention},
    }
    return {"mode": "run", "summary": summary, "history": []}


def test_a_quiet_night_shows_both_readings_below_their_bounds():
    contention = {"busy": False, "reason": None, "others_cores": 0.04, "others_share": 0.21,
                  "queue_ms_per_request": 0.012, "queue_share": 0.008}
    data = _data(contention, 0.013)
    text = build_view(data)["conditions"]
    assert "1.3 % to the latency it measured (generator-bound from 10 %)" in text
    assert "0.012 ms per request, 0.8 % of its mean latency (busy machine from 5 %" in text
    assert "they held 21 %" in text
    assert "Measurement conditions" in render_markdown(data)


def test_a_host_without_scheduler_statistics_says_it_was_not_checked():
    contention = {"busy": False, "reason": "not checked: no per-thread scheduler statistics for the target on this "
                  "host", "others_cores": 0.1, "others_share": 0.3, "queue_ms_per_request": None, "queue_share": None}
    text = build_view(_data(contention, 0.0))["conditions"]
    assert "busy machine not checked" in text and "0.0 % to the latency" in text

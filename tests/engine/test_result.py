"""Combining the generator processes' parts: counts summed, histograms merged exactly."""

from __future__ import annotations

from loadwatch import hist
from loadwatch.engine.result import combine_parts


def _part(index: int, values: list[int], errors: int) -> dict[str, object]:
    h = hist.new_hist()
    hist.record_many(h, values)
    enc = hist.encode(h)
    return {
        "index": index,
        "model": "open",
        "measured_s": 10.0,
        "duration_s": 10.0,
        "warmup_s": 0.0,
        "started_at": 1000.0,
        "finished_at": 1010.0,
        "scenarios": {
            "a": {
                "requests": len(values),
                "errors": errors,
                "latency": enc,
                "service": enc,
                "errors_by_kind": {"http_5xx": {"count": errors, "sample": "HTTP 500"}} if errors else {},
                "status_classes": {"2xx": len(values) - errors, "5xx": errors},
            }
        },
        "windows": [
            {"t": 1000.0, "scenario": "a", "requests": len(values), "errors": errors, "warmup": False, "latency": enc}
        ],
        "sends": len(values),
        "measured_sends": len(values),
        "intended": len(values),
        "late": 0,
        "dropped": 0,
        "cpu_percent": 10.0,
        "loop_lag_ms": {"p99": 1.0, "max": 2.0},
    }


def test_combine_workers_sums_counts_and_merges_exactly() -> None:
    a = [100 * i for i in range(1, 1001)]
    b = [7 * i for i in range(1, 3001)]
    res = combine_parts([_part(0, a, 3), _part(1, b, 0)])
    s = res.summary
    assert s["requests"] == 4000 == sum(w["requests"] for w in s["workers"])
    assert s["errors"] == 3 and s["errors_by_kind"]["http_5xx"]["count"] == 3
    union = hist.new_hist()
    hist.record_many(union, a + b)
    assert s["latency_ms"] == hist.stats_ms(union)
    assert res.timeline[0]["requests"] == 4000
    assert s["generator_bound"] is False


def test_a_generator_late_against_its_schedule_is_bound_even_when_its_late_sends_found_no_connection_free() -> None:
    # 1000 sends intended; the pacer reached 600 of them more than 1 ms late (queued behind busy connections or
    # dropped: its answers sat unread), only 10 of those on a free connection; 600 ms of lateness against 3000 ms of
    # measured latency (20 %)
    values = [3000] * 1000  # 3 ms each
    starved = {**_part(0, values, 0), "late": 10, "late_ms_sum": 10.0, "sched_late": 600, "sched_late_ms_sum": 600.0,
               "latency_ms_sum": 3000.0, "intended": 1000, "dropped": 300, "measured_sends": 700}
    s = combine_parts([starved]).summary
    assert s["generator_bound"] is True
    assert any("600 of 1000 sends late against its schedule" in r for r in s["generator"]["reasons"])
    assert s["generator"]["schedule_late_share"] == 0.2 and s["workers"][0]["sched_late"] == 600


def test_drops_the_pacer_reached_on_time_stay_the_targets() -> None:
    values = [3000] * 1000
    slow_target = {**_part(0, values, 0), "late": 0, "late_ms_sum": 0.0, "sched_late": 3, "sched_late_ms_sum": 4.0,
                   "latency_ms_sum": 3000.0, "intended": 1000, "dropped": 300, "measured_sends": 700}
    s = combine_parts([slow_target]).summary
    assert s["generator_bound"] is False and s["generator"]["schedule_late_share"] < 0.01


def _sessions(refreshes: int, by_trigger: dict[str, int]) -> dict[str, object]:
    return {"sessions": 2, "logins": 2, "login_failures": 0, "refreshes": refreshes, "refresh_failures": 0, "steps": {},
            "refresh": {"every": 30.0, "expires_in": "ttl", "margin": 0.25, "own_steps": False,
                        "by_trigger": by_trigger}}


def test_the_sessions_renewals_are_summed_by_what_timed_them_over_processes_and_shards() -> None:
    from loadwatch.engine.result import merge_results

    values = [1000] * 10
    one = combine_parts([{**_part(0, values, 0), "sessions": _sessions(5, {"expires_in": 5})},
                         {**_part(1, values, 0), "sessions": _sessions(3, {"every": 1, "expires_in": 2})}])
    rule = {"every": 30.0, "expires_in": "ttl", "margin": 0.25, "own_steps": False}
    assert one.summary["sessions"]["refreshes"] == 8
    assert one.summary["sessions"]["refresh"] == {**rule, "by_trigger": {"every": 1, "expires_in": 7}}
    # a shard's result is merged with the others' in the workers' form: the rule and the counts travel with it
    other = combine_parts([{**_part(0, values, 0), "sessions": _sessions(4, {"expires_in": 4})}])
    both = merge_results([one, other]).summary["sessions"]
    assert both["refreshes"] == 12 and both["refresh"] == {**rule, "by_trigger": {"every": 1, "expires_in": 11}}
    # a plan without renewal has no rule
    assert "refresh" not in combine_parts([{**_part(0, values, 0), "sessions": {
        "sessions": 1, "logins": 1, "login_failures": 0, "refreshes": 0, "refresh_failures": 0, "steps": {}}}]
    ).summary["sessions"]

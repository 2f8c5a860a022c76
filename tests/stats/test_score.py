from __future__ import annotations

from loadwatch.stats.score import score


def _load(p95, p99, errors, requests, rps):
    return {"requests": requests, "errors": errors, "rps": rps, "latency_ms": {"p95": p95, "p99": p99}}


def test_seed_reported_run_scores_80():
    # research/seed_origin.md §1: 228 requests, 3.8 rps, 0 errors, p95 6.86 ms, p99 9.84 ms -> 80 (40+30+0+10)
    s = score(_load(6.86, 9.84, 0, 228, 3.8))
    assert s == {"total": 80, "p95": 40, "error_rate": 30, "throughput": 0, "consistency": 10, "band": "GOOD"}


def test_partial_points():
    s = score(_load(75.0, 200.0, 5, 1000, 7.5))  # p95 75 ms, 0.5 % errors, 7.5 rps, p99 > 2 p95
    assert (s["p95"], s["error_rate"], s["throughput"], s["consistency"]) == (20, 15, 15, 0)
    assert s["total"] == 50 and s["band"] == "FAIR"


def test_edges():
    assert score(_load(49.99, 1, 0, 10, 10))["total"] == 100
    assert score(_load(100, 150, 10, 1000, 4.99))["p95"] == 0
    assert score(_load(100, 150, 10, 1000, 4.99))["error_rate"] == 0  # 1 % is not under 1 %
    assert score(_load(100, 150, 10, 1000, 4.99))["throughput"] == 0
    assert score(_load(10, 10, 0, 10, 5.0))["throughput"] == 10
    assert score(_load(10, 10, 0, 10, 5.0))["band"] == "EXCELLENT"


def test_never_divides_by_zero():
    s = score({})  # no answers: no latency points (never the 40 points of a p95 "0 ms")
    assert s["total"] == 30 and s["p95"] == 0 and s["consistency"] == 0 and s["band"] == "POOR"
    s = score(_load(0.0, 0.0, 0, 0, 0.0))
    assert s["consistency"] == 0
    assert score({"requests": "x", "latency_ms": {"p95": None}})["total"] == 30

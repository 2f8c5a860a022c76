from __future__ import annotations

import pytest

from loadwatch.errors import InvalidInput
from loadwatch.stats.thresholds import evaluate_thresholds, parse_threshold

LOAD = {
    "requests": 1000,
    "errors": 5,
    "rps": 50.0,
    "dropped": 0,
    "late": 3,
    "latency_ms": {"mean": 12.0, "p50": 10.0, "p90": 20.0, "p95": 30.0, "p99": 45.0, "p999": 150.0, "max": 900.0},
    "service_time_ms": {"mean": 5.0, "p50": 4.0, "p90": 7.0, "p95": 8.0, "p99": 12.0, "p999": 20.0, "max": 40.0},
    "scenarios": {
        "get_tool": {
            "requests": 200,
            "errors": 0,
            "rps": 10.0,
            "latency_ms": {"mean": 5.0, "p50": 4.0, "p90": 9.0, "p95": 15.0, "p99": 25.0, "p999": 30.0, "max": 31.0},
            "service_time_ms": {"p95": 6.0},
        }
    },
}


@pytest.mark.parametrize(
    ("expr", "scenario", "metric", "value", "limit", "passed"),
    [
        ("p95 < 50ms", "*", "p95", 30.0, 50.0, True),
        ("p95<20", "*", "p95", 30.0, 20.0, False),
        ("p99.9 < 200ms", "*", "p999", 150.0, 200.0, True),
        ("p(99.9) < 0.1s", "*", "p999", 150.0, 100.0, False),
        ("p(95) <= 30ms", "*", "p95", 30.0, 30.0, True),
        ("error_rate < 1%", "*", "error_rate", 0.5, 1.0, True),
        ("error_rate < 0.4", "*", "error_rate", 0.5, 0.4, False),
        ("rps > 10", "*", "rps", 50.0, 10.0, True),
        ("rps >= 60/s", "*", "rps", 50.0, 60.0, False),
        ("mean <= 20ms", "*", "mean", 12.0, 20.0, True),
        ("avg < 10ms", "*", "mean", 12.0, 10.0, False),
        ("max < 1s", "*", "max", 900.0, 1000.0, True),
        ("med < 500us", "*", "p50", 10.0, 0.5, False),
        ("get_tool: p95 < 20ms", "get_tool", "p95", 15.0, 20.0, True),
        ("p95{scenario:get_tool} < 10ms", "get_tool", "p95", 15.0, 10.0, False),
        ("get_tool: error_rate == 0%", "get_tool", "error_rate", 0.0, 0.0, True),
        ("service_p95 < 10ms", "*", "service_p95", 8.0, 10.0, True),
        ("get_tool: service_p95 < 5ms", "get_tool", "service_p95", 6.0, 5.0, False),
        ("dropped == 0", "*", "dropped", 0.0, 0.0, True),
        ("late < 3", "*", "late", 3.0, 3.0, False),
        ("requests > 999", "*", "requests", 1000.0, 999.0, True),
        ("errors != 5", "*", "errors", 5.0, 5.0, False),
    ],
)
def test_every_syntax(expr, scenario, metric, value, limit, passed):
    [r] = evaluate_thresholds([expr], LOAD)
    assert r == {
        "expr": expr,
        "scenario": scenario,
        "metric": metric,
        "op": r["op"],
        "value": pytest.approx(value),
        "limit": pytest.approx(limit),
        "unit": r["unit"],
        "passed": passed,
    }


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("p75 < 50ms", "unknown metric"),
        ("latency < 50ms", "unknown metric"),
        ("service_error_rate < 1%", "unknown metric"),
        ("p95 < 50kg", "cannot parse"),
        ("p95 < 5%", "not a time unit"),
        ("error_rate < 5ms", "percentage"),
        ("rps > 5ms", "requests per second"),
        ("late < 5ms", "count"),
        ("p95 50ms", "cannot parse"),
        ("p95 < ", "cannot parse"),
        ("", "empty"),
        ("a: p95{scenario:b} < 5", "two different scenarios"),
        ("p95 < 1e999", "finite"),
    ],
)
def test_parse_errors(expr, needle):
    with pytest.raises(InvalidInput) as e:
        parse_threshold(expr, source="plan.yaml")
    assert needle in str(e.value)
    assert e.value.source == "plan.yaml" and e.value.field == "thresholds"
    assert e.value.exit_code == 2


def test_unknown_scenario_is_an_error_not_a_pass():
    with pytest.raises(InvalidInput, match=r"unknown scenario 'nope'.*get_tool"):
        evaluate_thresholds(["nope: p95 < 1s"], LOAD)
    with pytest.raises(InvalidInput, match="unknown scenario"):
        evaluate_thresholds(["p95{scenario:nope} < 1s"], LOAD)


def test_metric_missing_from_the_run_is_an_error():
    with pytest.raises(InvalidInput, match="late is not available"):
        evaluate_thresholds(["get_tool: late == 0"], LOAD)
    with pytest.raises(InvalidInput, match="not available"):
        evaluate_thresholds(["get_tool: service_p99 < 1s"], LOAD)


def test_zero_requests_is_a_breach_not_a_pass():
    [r] = evaluate_thresholds(["error_rate < 1%"], {"requests": 0, "errors": 0})
    assert r["value"] is None and not r["passed"] and r["reason"] == "no requests to measure"


def test_a_latency_threshold_on_a_scenario_without_answers_is_breached():
    load = {"requests": 250, "errors": 250, "latency_ms": {"p95": None},
            "scenarios": {"dead": {"requests": 250, "errors": 250, "latency_ms": {"p50": None, "p95": None}}}}
    [r] = evaluate_thresholds(["dead: p95 < 50ms"], load)
    assert r["value"] is None and not r["passed"] and r["reason"] == "no answers to measure"


def test_parse_result():
    t = parse_threshold("get_tool: p99 <= 0.25s")
    assert (t.scenario, t.metric, t.op, t.limit, t.unit) == ("get_tool", "p99", "<=", 250.0, "ms")
    assert t.passes(250.0) and not t.passes(250.1)

"""A slowdown of every scenario is a regression of every scenario; machine drift is removed only through the
probe measured in the same run (a CPU micro-benchmark the target cannot move), never by comparing scenarios."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from loadwatch.stats.gate import compare_run
from loadwatch.stats.model import GateConfig, RunPoint

SCENARIOS = {"a": 2.0, "b": 3.0, "c": 1.5, "d": 4.0, "e": 2.5, "f": 6.0}


def _run(i: int, factors: dict[str, float], rng: random.Random, machine: float = 1.0,
         probe: bool = True) -> RunPoint:
    metrics = {}
    for name, base in SCENARIOS.items():
        v = base * machine * factors.get(name, 1.0) * rng.gauss(1.0, 0.01)
        metrics[name] = {"p50_ms": v, "requests": 500.0}
    metrics["*"] = {"p50_ms": sum(m["p50_ms"] for m in metrics.values()) / len(SCENARIOS), "requests": 3000.0}
    return RunPoint(run_id=f"r{i}", started_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i),
                    metrics=metrics, probe={"cpu_ms": 5.0 * machine * rng.gauss(1.0, 0.005)} if probe else None)


def _outcomes(rows):
    return {(r["scenario"], r["metric"]): r["outcome"] for r in rows}


def test_a_slowdown_of_every_scenario_is_a_regression_of_every_scenario():
    rng = random.Random(3)
    history = [_run(i, {}, rng) for i in range(12)]
    tonight = _run(12, dict.fromkeys(SCENARIOS, 1.3), rng)  # a slower release: the probe did not move
    out = _outcomes(compare_run(tonight, history, GateConfig()))
    assert {s for (s, _m), o in out.items() if o == "regression"} == {*SCENARIOS, "*"}


def test_three_of_six_regressing_are_the_three_and_the_others_are_not_improvements():
    rng = random.Random(4)
    history = [_run(i, {}, rng) for i in range(12)]
    tonight = _run(12, {"a": 1.4, "c": 1.4, "e": 1.4}, rng)
    out = _outcomes(compare_run(tonight, history, GateConfig()))
    assert {s for (s, _m), o in out.items() if o == "regression" and s != "*"} == {"a", "c", "e"}
    assert all(out[(s, "p50_ms")] in ("ok", "suspect") for s in ("b", "d", "f"))


def test_machine_drift_seen_by_the_probe_is_not_the_targets_regression():
    rng = random.Random(5)
    history = [_run(i, {}, rng, machine=rng.uniform(0.85, 1.15)) for i in range(20)]
    # a busy host (as busy as the busiest baseline night), the same target
    rows = compare_run(_run(20, {}, rng, machine=1.15), history, GateConfig())
    assert all(r["outcome"] != "regression" for r in rows)
    b = next(r for r in rows if r["scenario"] == "b")
    assert b["probe"]["factor"] > 1.1 and b["probe"]["spread_adjusted"] < b["probe"]["spread_raw"]
    # the same busy night with one scenario 40 % slower on top: that one is the regression
    out = _outcomes(compare_run(_run(21, {"d": 1.4}, rng, machine=1.15), history, GateConfig()))
    assert {s for (s, _m), o in out.items() if o == "regression" and s != "*"} == {"d"}


def test_without_the_probe_drift_widens_the_band_instead():
    rng = random.Random(6)
    history = [_run(i, {}, rng, machine=rng.uniform(0.85, 1.15), probe=False) for i in range(20)]
    rows = compare_run(_run(20, {}, rng, machine=1.0, probe=False), history, GateConfig())
    assert all(r["outcome"] in ("ok", "suspect") and "probe" not in r for r in rows)
    assert all(r["noise"]["cv_percent"] > 3 for r in rows)
    # a doubling still fails, noise or not
    out = _outcomes(compare_run(_run(21, {"d": 2.0}, rng, probe=False), history, GateConfig()))
    assert out[("d", "p50_ms")] == "regression"


def test_a_probe_that_explains_nothing_is_not_used():
    rng = random.Random(7)
    history = [_run(i, {}, rng) for i in range(15)]
    # probe readings that wander while the latencies do not: no fit, no adjustment
    history = [RunPoint(run_id=r.run_id, started_at=r.started_at, metrics=r.metrics,
                        probe={"cpu_ms": rng.uniform(3.0, 8.0)}) for r in history]
    rows = compare_run(_run(15, {"b": 1.3}, rng, machine=1.0), history, GateConfig())
    assert all("probe" not in r for r in rows)
    assert _outcomes(rows)[("b", "p50_ms")] == "regression"


def test_a_probe_reading_outside_the_baselines_range_explains_at_most_its_edge():
    rng = random.Random(8)
    history = [_run(i, {}, rng, machine=rng.uniform(0.85, 1.15)) for i in range(20)]
    tonight = _run(20, dict.fromkeys(SCENARIOS, 2.5), rng)  # a slower release ...
    tonight = RunPoint(run_id=tonight.run_id, started_at=tonight.started_at, metrics=tonight.metrics,
                       probe={"cpu_ms": 15.0})  # ... while the probe reads 3x (misread, or slowed by the target)
    rows = compare_run(tonight, history, GateConfig())
    assert {r["scenario"] for r in rows if r["outcome"] == "regression"} == {*SCENARIOS, "*"}
    b = next(r for r in rows if r["scenario"] == "b")
    assert b["probe"]["clamped"] and b["probe"]["factor"] < 1.2
    lo, hi = b["ci"]
    assert lo <= b["change"] <= hi and b["value"] == pytest.approx(b["baseline"] * (1 + b["change"] / 100), rel=1e-4)

"""The gate judges each scenario against the run's common mode: a machine that is slower tonight moves every
scenario, and the scenario that changed is the one that moved beyond the rest; "*" still gates a run-wide shift."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from loadwatch.stats import GateConfig, RunPoint, compare_run

SCENARIOS = {"a": 2.0, "b": 3.0, "c": 1.5, "d": 4.0}


def _run(i: int, factors: dict[str, float], rng: random.Random, common: float = 1.0) -> RunPoint:
    metrics = {}
    for name, base in SCENARIOS.items():
        v = base * common * factors.get(name, 1.0) * rng.gauss(1.0, 0.01)
        metrics[name] = {"p50_ms": v, "requests": 500.0}
    metrics["*"] = {"p50_ms": sum(m["p50_ms"] for m in metrics.values()) / 4, "requests": 2000.0}
    return RunPoint(run_id=f"r{i}", started_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i), metrics=metrics)


def _outcomes(rows):
    return {(r["scenario"], r["metric"]): r["outcome"] for r in rows}


def test_a_common_shift_is_not_blamed_on_every_scenario():
    rng = random.Random(3)
    history = [_run(i, {}, rng) for i in range(12)]
    tonight = _run(12, {"b": 1.35}, rng, common=1.12)  # the whole machine +12 %, scenario b +35 % on top
    rows = compare_run(tonight, history, GateConfig())
    out = _outcomes(rows)
    assert out[("b", "p50_ms")] == "regression"
    assert {s for (s, m), o in out.items() if o == "regression" and s != "*"} == {"b"}
    b = next(r for r in rows if r["scenario"] == "b")
    assert b["common_mode"] > 1.05 and b["adjusted_change_percent"] < b["change_percent"]
    # without the adjustment, every scenario would have been flagged
    raw = _outcomes(compare_run(tonight, history, GateConfig(common_mode=False)))
    assert {s for (s, m), o in raw.items() if o == "regression" and s != "*"} == {"a", "b", "c", "d"}


def test_a_run_wide_slowdown_still_fails_through_the_whole_run():
    rng = random.Random(4)
    history = [_run(i, {}, rng) for i in range(12)]
    tonight = _run(12, {}, rng, common=1.3)
    out = _outcomes(compare_run(tonight, history, GateConfig()))
    assert out[("*", "p50_ms")] == "regression"


def test_night_to_night_drift_of_the_machine_does_not_make_every_series_noisy():
    rng = random.Random(5)
    # every night the whole machine is 0-15 % slower, the same for all scenarios; each scenario's own noise is 1 %
    history = [_run(i, {}, rng, common=rng.uniform(1.0, 1.15)) for i in range(12)]
    tonight = _run(12, {"c": 1.3}, rng, common=rng.uniform(1.0, 1.15))
    raw = _outcomes(compare_run(tonight, history, GateConfig(common_mode=False)))
    assert raw[("c", "p50_ms")] == "noisy"  # the drift alone exceeds half the 5 % floor
    out = _outcomes(compare_run(tonight, history, GateConfig()))
    assert out[("c", "p50_ms")] == "regression"
    assert {s for (s, m), o in out.items() if o == "regression" and s != "*"} == {"c"}

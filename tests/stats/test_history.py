from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from loadwatch.stats.history import group_incidents, history_change_points
from loadwatch.stats.model import RunPoint

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _runs(n, step_at=None, step=1.2, cpu_step_at=None, seed=3, excluded=()):
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n):
        f = step if step_at is not None and i >= step_at else 1.0
        cpu = 40.0 * (1.3 if cpu_step_at is not None and i >= cpu_step_at else 1.0)
        runs.append(
            RunPoint(
                run_id=f"r{i}",
                started_at=T0 + timedelta(days=i),
                metrics={
                    "*": {
                        "p95_ms": 20.0 * f * (1 + 0.02 * rng.standard_normal()),
                        "rps": 50.0 * (1 + 0.01 * rng.standard_normal()),
                        "error_rate": 0.0,
                        "cpu_percent": cpu * (1 + 0.02 * rng.standard_normal()),
                    }
                },
                excluded=i in excluded,
            )
        )
    return runs


def test_confirmed_regression_grouped_by_run():
    cps = history_change_points(_runs(60, step_at=40, cpu_step_at=40))
    assert {(c["metric"], c["run_id"], c["state"], c["direction"]) for c in cps} == {
        ("p95_ms", "r40", "confirmed", "regression"),
        ("cpu_percent", "r40", "confirmed", "regression"),
    }
    p95 = next(c for c in cps if c["metric"] == "p95_ms")
    assert p95["index"] == 40 and p95["time"] == T0 + timedelta(days=40)
    assert 15 < p95["forward_change_percent"] < 25 and p95["p_value"] < 0.001
    assert p95["mean_after"] > p95["mean_before"]
    [incident] = group_incidents(cps)
    assert incident["run_id"] == "r40" and len(incident["changes"]) == 2 and incident["regressions"] == 2


def test_pending_until_three_runs_after():
    cps = history_change_points(_runs(42, step_at=39, step=1.5))
    [c] = cps
    assert c["run_id"] == "r39" and c["state"] == "pending" and c["runs_after"] == 2
    [c] = history_change_points(_runs(43, step_at=39, step=1.5))
    assert c["state"] == "confirmed"


def test_improvement_direction_and_floor():
    runs = _runs(60, step_at=30, step=0.8)
    [c] = history_change_points(runs)
    assert c["direction"] == "improvement"
    # +3 % is below the p95 floor (7.5 %): no change point
    assert history_change_points(_runs(60, step_at=30, step=1.03)) == []


def test_excluded_runs_are_skipped_and_spikes_ignored():
    runs = _runs(60)
    spiky = [*runs[:30], RunPoint("spike", runs[30].started_at, {"*": {"p95_ms": 60.0}}), *runs[31:]]
    assert history_change_points(spiky) == []
    bad = _runs(60, excluded={20, 21, 22})
    bad[20:23] = [RunPoint(r.run_id, r.started_at, {"*": {"p95_ms": 90.0}}, excluded=True) for r in bad[20:23]]
    assert history_change_points(bad) == []


def test_short_histories_and_empty():
    assert history_change_points([]) == []
    assert history_change_points(_runs(3)) == []
    assert group_incidents([]) == []

"""render_metrics is the concatenation of its family functions (one per metric family), in FAMILIES' order."""

from __future__ import annotations

import re
from typing import Any

from loadwatch.report import prometheus

SUMMARY: dict[str, Any] = {
    "run_id": "r1",
    "status": "completed",
    "started_at": "2025-01-01T02:00:00+00:00",
    "finished_at": "2025-01-01T02:01:10+00:00",
    "verdict": "regression",
    "trigger": "schedule",
    "plan": {"name": "p", "hash": "f00d"},
    "load": {"requests": 10, "errors": 1, "rps": 5.0, "dropped": 0, "late": 1, "generator_bound": False,
             "latency_ms": {"mean": 2.0, "p50": 1.5, "p95": 7.0, "p99": 9.0},
             "scenarios": {"a": {"requests": 10, "errors": 1, "rps": 5.0, "latency_ms": {"p95": 7.0}}}},
    "thresholds": [{"expr": "p95 < 5ms", "passed": False}],
    "comparison": [{"outcome": "regression"}, {"outcome": "suspect"}, {"outcome": "ok"}],
    "change_points": [{"run_id": "r0"}],
    "score": {"latency": 30},
    "resources": {"target": {"samples": 3, "cpu_percent": {"avg": 10.0, "max": 20.0}, "rss_mb": {"avg": 1.0}}},
    "target_stats": {"delta": {"cache.hit_rate_window": 95.0}},
}


def _families(text: str) -> list[str]:
    return re.findall(r"^# TYPE (\S+) ", text, flags=re.M)


def _alone(fn: Any) -> str:
    fam = prometheus._Families()
    fn(fam, {"plan": "p"}, SUMMARY)
    return fam.render()


def test_each_family_function_adds_its_own_families_in_order() -> None:
    parts = [_alone(fn) for fn in prometheus.FAMILIES]
    assert all(parts), [fn.__name__ for fn, p in zip(prometheus.FAMILIES, parts, strict=True) if not p]
    names = [name for p in parts for name in _families(p)]
    assert len(names) == len(set(names))  # no family is written by two functions
    assert names == _families(prometheus.render_metrics(SUMMARY))
    assert "".join(parts) == prometheus.render_metrics(SUMMARY)


def test_counts_by_outcome() -> None:
    text = prometheus.render_metrics(SUMMARY)
    assert 'loadwatch_comparisons{plan="p",outcome="regression"} 1' in text
    assert 'loadwatch_comparisons{plan="p",outcome="suspect"} 1' in text
    assert 'loadwatch_regressions{plan="p"} 1' in text
    assert 'loadwatch_change_points{plan="p"} 1' in text

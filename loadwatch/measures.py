"""The values a run contributes to its trend series, derived from its summary.

Scenario "*" is the whole run; `requests` rides along (not gated) for the tests that need counts.
Latency percentiles are from the intended send time (coordinated-omission correct);
error_rate is in percent; cpu_percent and rss_mb are the target's process group; capacity_rps is the capacity
stage's answer (the highest rate meeting the plan's capacity SLOs, loadwatch.capacity), when the run had one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ALL", "METRICS", "run_metrics"]

ALL = "*"
METRICS = ("p50_ms", "p95_ms", "p99_ms", "rps", "error_rate", "cpu_percent", "rss_mb", "capacity_rps")
_LATENCY = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}


def _load_metrics(block: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    lat = block.get("latency_ms") or {}
    requests = float(block.get("requests") or 0)
    if requests > 0:
        out["requests"] = requests  # not gated itself: the error-rate test needs the counts behind the rate
        for metric, key in _LATENCY.items():
            if lat.get(key) is not None:
                out[metric] = float(lat[key])
        out["error_rate"] = 100.0 * float(block.get("errors") or 0) / requests
    if block.get("rps") is not None:
        out["rps"] = float(block["rps"])
    return out


def run_metrics(summary: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """scenario -> metric -> value for one run's summary (missing pieces are simply absent)."""
    load = summary.get("load") or {}
    metrics: dict[str, dict[str, float]] = {ALL: _load_metrics(load)}
    for name, block in (load.get("scenarios") or {}).items():
        metrics[name] = _load_metrics(block)
    target = (summary.get("resources") or {}).get("target") or {}
    if target.get("samples"):
        cpu = (target.get("cpu_percent") or {}).get("avg")
        rss = (target.get("rss_mb") or {}).get("avg")
        if cpu is not None:
            metrics[ALL]["cpu_percent"] = float(cpu)
        if rss is not None:
            metrics[ALL]["rss_mb"] = float(rss)
    capacity = (summary.get("capacity") or {}).get("capacity_rps")
    if capacity is not None:
        metrics[ALL]["capacity_rps"] = float(capacity)
    return {k: v for k, v in metrics.items() if v}

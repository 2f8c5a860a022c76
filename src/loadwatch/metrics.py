"""The values a run contributes to its trend series, derived from its summary.

Scenario "*" is the whole run; `requests` rides along (not gated) for the tests that need counts, and
`intended_rps` (open model) for judging throughput against the schedule. A scenario with no answers has no
latency here at all (never 0), and one with no requests no error rate.
Latency percentiles are from the intended send time (coordinated-omission correct);
error_rate is in percent; cpu_percent and rss_mb are the target's process group. The attribution figures
(database time, calls, blocks and rows per request, target CPU per request, cache hit rate; per statement under
`stmt:<queryid>`) come from loadwatch.pipeline.attribution and are judged like the rest (docs/METHOD.md §9).
capacity_rps is the capacity stage's answer (the highest rate meeting the plan's capacity SLOs,
loadwatch.capacity.search), when the run had one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadwatch.pipeline.attribution import attribution_metrics
from loadwatch.vocabulary import ALL, METRICS

__all__ = ["ALL", "METRICS", "run_metrics"]

_LATENCY = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99", "p999_ms": "p999"}


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
    if load.get("model") == "open" and load.get("intended_rate"):
        # not gated itself: marks an open-model run, whose throughput is judged as achieved vs intended
        metrics[ALL]["intended_rps"] = float(load["intended_rate"])
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
    for scenario, block in attribution_metrics(summary).items():
        metrics.setdefault(scenario, {}).update(block)
    capacity = (summary.get("capacity") or {}).get("capacity_rps")
    if capacity is not None:
        metrics[ALL]["capacity_rps"] = float(capacity)
    return {k: v for k, v in metrics.items() if v}

"""The values a run contributes to its trend series, derived from its summary.

Scenario "*" is the whole run; `requests` rides along (not gated) for the tests that need counts, and
`intended_rps` (open model) for judging throughput against the schedule. A scenario with no answers has no
latency here at all (never 0), and one with no requests no error rate.
Latency percentiles are from the intended send time (coordinated-omission correct);
error_rate is in percent; cpu_percent and rss_mb are the target's process group. The attribution figures
(database time, calls, blocks and rows per request, target CPU per request, cache hit rate; per statement under
`stmt:<queryid>`) are derived here too (`attribution_metrics`) and judged like the rest;
loadwatch.pipeline.attribution explains a regression with them (docs/METHOD.md §9).
capacity_rps is the capacity stage's answer (the highest rate meeting the plan's capacity SLOs,
loadwatch.capacity.search), when the run had one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from typing_extensions import TypedDict

from loadwatch.observations import Environment, ProbeReading, Resources, TargetStats
from loadwatch.statements import statements
from loadwatch.vocabulary import ALL, METRICS, STMT_PREFIX

__all__ = ["ALL", "METRICS", "MIN_STATEMENT_CALLS", "Measured", "attribution_metrics", "cache_hit_rate",
           "finite_number", "run_metrics", "window_requests", "with_capacity"]

class Measured(TypedDict, total=False):
    """What a run measured, as the comparison reads it: summary.json's blocks the metric vector is derived from
    (a stored summary has them too). `load` is the engine's summary and `resources` the monitor's (typed there)."""

    load: dict[str, Any]
    resources: Resources
    target_stats: TargetStats
    environment: Environment
    probe: ProbeReading | None
    capacity: dict[str, Any]


# A statement's mean over fewer calls than this is mostly noise (one slow call moves it): not a series.
MIN_STATEMENT_CALLS = 20

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
    return with_capacity({k: v for k, v in metrics.items() if v}, summary.get("capacity"))


def with_capacity(metrics: dict[str, dict[str, float]], capacity: Mapping[str, Any] | None,
                  ) -> dict[str, dict[str, float]]:
    """The metric vector with the capacity stage's answer (`capacity_rps`, when it found one) in "*"."""
    rps = (capacity or {}).get("capacity_rps")
    if rps is not None:
        metrics.setdefault(ALL, {})["capacity_rps"] = float(rps)
    return metrics


def finite_number(value: Any) -> float | None:
    """A JSON value as a float when it is a finite number (never a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def window_requests(load: Mapping[str, Any]) -> float | None:
    """Requests over the window the counters cover. The monitor and the stats endpoint are read around the whole
    load, warm-up included, so every send counts (`sends`); `requests` (measured only) when sends are unknown."""
    for key in ("sends", "requests"):
        n = finite_number(load.get(key))
        if n is not None and n > 0:
            return n
    return None


def cache_hit_rate(target_stats: Mapping[str, Any]) -> tuple[str, float] | None:
    """(counter, percent) of the stats endpoint's hit rate over the window: a `…hit_rate_window` derived from hit and
    miss counters (baseline.counter_deltas), one whose name says cache first; Postgres' own blks_* ratios are not a
    cache of the target's. None when the endpoint has no such counters or there were no lookups."""
    delta = target_stats.get("delta") or {}
    keys = [k for k in delta
            if k.endswith("hit_rate_window") and "blks" not in k and finite_number(delta[k]) is not None]
    if not keys:
        return None
    key = sorted(keys, key=lambda k: ("cache" not in k.lower(), k))[0]
    return key, float(delta[key])


def attribution_metrics(summary: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """scenario -> metric -> value: run-level figures under "*", statements under `stmt:<queryid>`."""
    load = summary.get("load") or {}
    req = window_requests(load)
    run: dict[str, float] = {}
    out: dict[str, dict[str, float]] = {}
    resources = summary.get("resources") or {}
    totals = (resources.get("database") or {}).get("statement_totals") or {}
    if req and totals:
        for metric, key in (("db_ms_per_req", "total_exec_time_ms"), ("db_calls_per_req", "calls"),
                            ("blks_hit_per_req", "shared_blks_hit"), ("blks_read_per_req", "shared_blks_read"),
                            ("rows_per_req", "rows")):
            v = finite_number(totals.get(key))
            if v is not None:
                run[metric] = v / req
    target = resources.get("target") or {}
    cpu = finite_number((target.get("cpu_percent") or {}).get("avg"))
    duration = finite_number(load.get("duration_s"))
    if req and target.get("samples") and cpu is not None and duration:
        run["cpu_ms_per_req"] = cpu / 100.0 * duration * 1000.0 / req  # % of one core x seconds -> CPU ms
    hit = cache_hit_rate(summary.get("target_stats") or {})
    if hit is not None:
        run["cache_hit_rate"] = hit[1]
    if run:
        out[ALL] = run
    if req:
        for qid, s in statements(summary).items():
            if s["calls"] >= MIN_STATEMENT_CALLS:
                out[STMT_PREFIX + qid] = {"stmt_mean_ms": s["total_exec_time_ms"] / s["calls"],
                                          "stmt_calls_per_req": s["calls"] / req}
    return out

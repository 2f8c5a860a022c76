"""Realistic report input: N nights of a plan's history with an optional step, judged by the real gate and the
real change-point detector (loadwatch.stats), plus this run's per-second series and percentile spectrum.

Shared by tests/report and benchmarks/report_bench.py. The result goes through a JSON round trip, so it has the
shape the report gets from summary.json and the store."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from loadwatch.pipeline.compare import decide_verdict
from loadwatch.stats.gate import compare_run
from loadwatch.stats.history import group_incidents, history_change_points
from loadwatch.stats.model import GateConfig, RunPoint

__all__ = ["HOSTILE", "SCENARIOS", "failed_summary", "make_data"]

SCENARIOS = ["list_tools", "get_tool", "search_tools", "filter_tools", "tool_versions", "performance_stats"]
HOSTILE = "<script>alert(1)</script>"
BASE_P95 = {
    "list_tools": 6.0,
    "get_tool": 3.0,
    "search_tools": 9.0,
    "filter_tools": 7.0,
    "tool_versions": 4.0,
    "performance_stats": 1.5,
}
SPECTRUM_Q = (50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)


def _base(name: str) -> float:
    return BASE_P95.get(name, 2.0 + (sum(map(ord, name)) % 90) / 10)


def _night_metrics(rng: random.Random, scenarios: list[str], factor: dict[str, float]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    total_rps = 0.0
    for name in scenarios:
        p95 = _base(name) * factor.get(name, 1.0) * rng.gauss(1.0, 0.015)
        rps = 20.0 * rng.gauss(1.0, 0.005)
        total_rps += rps
        out[name] = {"p50_ms": p95 * 0.45, "p95_ms": p95, "p99_ms": p95 * 1.6, "rps": rps, "error_rate": 0.0}
    p95s = [out[n]["p95_ms"] for n in scenarios]
    out["*"] = {
        "p50_ms": sorted(p95s)[len(p95s) // 2] * 0.45,
        "p95_ms": max(p95s),
        "p99_ms": max(p95s) * 1.6,
        "rps": total_rps,
        "error_rate": 0.0,
        "cpu_percent": 35 * rng.gauss(1.0, 0.02),
        "rss_mb": 120 * rng.gauss(1.0, 0.01),
    }
    return out


def failed_summary(reason: str = "target unreachable: connection refused", **over: Any) -> dict[str, Any]:
    """summary.json of a run that failed its preflight: no load, no comparison (as the chain writes it)."""
    return {"schema_version": 1, "run_id": "20260101T020000Z-f00d00", "status": "failed_preflight",
            "started_at": "2026-01-01T02:00:00+00:00", "finished_at": "2026-01-01T02:00:01+00:00",
            "verdict": "failed", "verdict_reasons": [reason], "trigger": "schedule", **over}


def make_data(
    nights: int = 30,
    *,
    scenarios: list[str] | None = None,
    step_at: int | None = 20,
    step_scenario: str = "search_tools",
    step: float = 0.40,
    mode: str = "run",
    seconds: int = 30,
    gate: bool = True,
    seed: int = 1,
    generator_bound: bool = False,
) -> dict[str, Any]:
    """Report input for the last of `nights` runs. Night `step_at` (1-based) and later have `step_scenario`'s
    latency `step` higher. `gate=False` skips the statistics (fast, for big histories)."""
    scenarios = list(scenarios or SCENARIOS)
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    points: list[RunPoint] = []
    for i in range(nights):
        factor = {step_scenario: 1 + step} if step_at is not None and i + 1 >= step_at else {}
        points.append(
            RunPoint(
                run_id=f"2026{i:04d}T020000Z-{i:06x}",
                started_at=start + timedelta(days=i),
                metrics=_night_metrics(rng, scenarios, factor),
            )
        )
    current, past = points[-1], points[:-1]
    if gate:
        cfg = GateConfig(resamples=500)
        comparison = compare_run(current, past, cfg)
        change_points = history_change_points(points)
        usable = past[-cfg.window :]
        verdict, reasons = decide_verdict(comparison, [], n_baseline=len(usable), min_history=cfg.min_history)
    else:
        comparison, change_points, usable = [], [], past[-20:]
        verdict, reasons = ("pass" if past else "insufficient_history"), []
    cur = current.metrics
    t0 = (start + timedelta(days=nights - 1)).timestamp()
    load_scen = {
        name: {
            "requests": int(cur[name]["rps"] * seconds),
            "errors": 0,
            "rps": cur[name]["rps"],
            "latency_ms": {
                "mean": cur[name]["p50_ms"] * 1.1,
                "p50": cur[name]["p50_ms"],
                "p90": cur[name]["p95_ms"] * 0.9,
                "p95": cur[name]["p95_ms"],
                "p99": cur[name]["p99_ms"],
                "p999": cur[name]["p99_ms"] * 1.5,
                "max": cur[name]["p99_ms"] * 2,
            },
            "errors_by_kind": {},
        }
        for name in scenarios
    }
    all_m = cur["*"]
    summary = {
        "schema_version": 1,
        "run_id": current.run_id,
        "status": "completed",
        "started_at": current.started_at.isoformat(),
        "finished_at": (current.started_at + timedelta(seconds=seconds)).isoformat(),
        "verdict": verdict,
        "verdict_reasons": reasons,
        "warnings": [],
        "baseline_run_ids": [p.run_id for p in usable],
        "trigger": "schedule",
        "plan": {
            "name": "tool_catalog",
            "hash": "ab12cd34ef56ab12",
            "target_url": "http://127.0.0.1:8080",
            "model": "open",
            "rate": 120,
            "users": None,
            "duration": seconds,
            "warmup": 5,
            "scenarios": [{"name": n, "weight": 1, "method": "GET", "path": f"/api/{n}"} for n in scenarios],
        },
        "environment": {"host": "ci-1", "cpu": "2 cores", "python": "3.11"},
        "load": {
            "requests": sum(b["requests"] for b in load_scen.values()),
            "errors": 3,
            "rps": all_m["rps"],
            "dropped": 0,
            "late": 40 if generator_bound else 0,
            "generator_bound": generator_bound,
            "latency_ms": {
                "mean": all_m["p50_ms"] * 1.1,
                "p50": all_m["p50_ms"],
                "p90": all_m["p95_ms"] * 0.9,
                "p95": all_m["p95_ms"],
                "p99": all_m["p99_ms"],
                "p999": all_m["p99_ms"] * 1.5,
                "max": all_m["p99_ms"] * 2,
            },
            "service_time_ms": {},
            "errors_by_kind": {"timeout": {"count": 3, "sample": "read timeout after 5 s"}},
            "scenarios": load_scen,
        },
        "resources": {
            g: {"samples": seconds, "cpu_percent": {"avg": 30.0, "max": 55.0}, "rss_mb": {"avg": 120.0, "max": 130.0}}
            for g in ("target", "database", "generator", "host")
        },
        "target_stats": {"pre": {}, "post": {}, "delta": {"cache.hits": 900, "cache.misses": 100}},
        "comparison": comparison,
        "change_points": change_points,
        "incidents": group_incidents(change_points) if change_points else [],
        "thresholds": [
            {
                "expr": "p95 < 50ms",
                "scenario": None,
                "metric": "p95",
                "op": "<",
                "value": all_m["p95_ms"],
                "limit": 50.0,
                "unit": "ms",
                "passed": True,
            }
        ],
        "score": {"total": 92, "p95": 30, "error_rate": 30, "throughput": 20, "consistency": 12, "band": "good"},
    }
    history = [
        {
            "run_id": p.run_id,
            "started_at": p.started_at.isoformat(),
            "verdict": "pass",
            "metrics": {k: dict(v) for k, v in p.metrics.items()},
        }
        for p in points
    ]
    if mode != "run":
        history = history  # review mode: the newest run is still the last element
    timeline = []
    for s in range(seconds):
        wobble = 1 + 0.1 * math.sin(s / 3)
        timeline.append(
            {
                "t": t0 + s,
                "requests": 120,
                "errors": 1 if s == seconds // 2 else 0,
                "rps": 120,
                "p50_ms": all_m["p50_ms"] * wobble,
                "p95_ms": all_m["p95_ms"] * wobble,
                "p99_ms": all_m["p99_ms"] * wobble,
                "max_ms": all_m["p99_ms"] * 2,
                "warmup": s < 5,
            }
        )
    samples = [
        {"t": t0 + s + 0.3, "group": g, "cpu_percent": (30 if g == "target" else 12) + 5 * math.sin(s), "rss_mb": 120.0}
        for s in range(seconds)
        for g in ("target", "database", "host")
    ]
    base_p95 = stats_median([p.metrics["*"]["p95_ms"] for p in usable]) if usable else None
    spectrum = {
        "current": [[q, all_m["p50_ms"] * (1 + 3 * (q / 100) ** 8)] for q in SPECTRUM_Q],
        "baseline": [[q, (base_p95 or 1) * 0.45 * (1 + 3 * (q / 100) ** 8)] for q in SPECTRUM_Q] if usable else [],
    }
    data = {
        "mode": mode,
        "summary": summary,
        "history": history,
        "timeline": timeline,
        "resource_samples": samples,
        "spectrum": spectrum,
        "incidents": summary["incidents"],
    }
    return json.loads(json.dumps(data, default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o)))


def stats_median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2

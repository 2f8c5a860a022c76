"""Builds runs with real HdrHistograms (the engine's own geometry) for the gate tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from loadwatch.hist import encode, new_hist, record_many, stats_ms
from loadwatch.stats.model import RunPoint

T0 = datetime(2026, 1, 1, 2, tzinfo=UTC)


def make_run(
    i: int,
    factor: float,
    *,
    seed: int | None = None,
    n: int = 4000,
    errors: float = 0.0,
    cpu: float | None = None,
    hist: bool = True,
) -> RunPoint:
    rng = np.random.default_rng(1000 + i if seed is None else seed)
    samples = np.exp(rng.normal(np.log(8000.0), 0.5, n)) * factor
    h = new_hist()
    record_many(h, np.round(samples).astype(np.int64))
    st = stats_ms(h)
    metrics = {
        "p50_ms": st["p50"],
        "p95_ms": st["p95"],
        "p99_ms": st["p99"],
        "error_rate": errors,
        "requests": float(n),
    }
    whole: dict[str, float] = dict(metrics)
    if cpu is not None:
        whole["cpu_percent"] = cpu
    return RunPoint(
        run_id=f"r{i}",
        started_at=T0 + timedelta(days=i),
        metrics={"*": whole, "get_tool": dict(metrics)},
        histograms={"*": encode(h), "get_tool": encode(h)} if hist else {},
    )


def clean_history(n: int = 20, cv: float = 0.02, seed: int = 5) -> list[RunPoint]:
    rng = np.random.default_rng(seed)
    return [
        make_run(i, float(np.exp(rng.normal(0, cv))), cpu=float(50 * np.exp(rng.normal(0, 0.02)))) for i in range(n)
    ]

"""The vocabulary shared by the gate and the change-point detector: runs, metrics, directions, floors, defaults.

Defaults and their sources are explained in docs/METHOD.md (research/regression_anchors.md §7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ALL",
    "DIRECTION",
    "ERROR_RATE_FLOOR_POINTS",
    "ERROR_RATE_FLOOR_RATIO",
    "FLOORS",
    "LATENCY_PERCENTILES",
    "METRICS",
    "GateConfig",
    "RunPoint",
]

ALL = "*"
METRICS = ("p50_ms", "p95_ms", "p99_ms", "rps", "error_rate", "cpu_percent", "rss_mb", "capacity_rps")

# +1: a higher value is worse; -1: a higher value is better.
DIRECTION: dict[str, int] = {
    "p50_ms": 1,
    "p95_ms": 1,
    "p99_ms": 1,
    "rps": -1,
    "error_rate": 1,
    "cpu_percent": 1,
    "rss_mb": 1,
    "capacity_rps": -1,
}

# Smallest effect worth a verdict, relative to the baseline median (fractions). error_rate is special:
# it must move by ERROR_RATE_FLOOR_POINTS percentage points AND by a factor ERROR_RATE_FLOOR_RATIO.
FLOORS: dict[str, float] = {
    "p50_ms": 0.05,
    "p95_ms": 0.075,
    "p99_ms": 0.10,
    "rps": 0.05,
    "error_rate": 0.5,  # read as: ratio 1.5 (relative magnitude 0.5); the absolute part is below
    "cpu_percent": 0.10,
    "rss_mb": 0.10,
    # Twice the search's resolution (3 %, docs/METHOD.md §8): the bracket's quantisation alone (2.2 % in
    # benchmarks/results/capacity.md) cannot reach it, and a series noisier than half of it is reported as noisy,
    # never gated; a 20 % capacity loss is over three floors away.
    "capacity_rps": 0.06,
}
ERROR_RATE_FLOOR_POINTS = 0.5
ERROR_RATE_FLOOR_RATIO = 1.5

# metric -> percentile read from a latency histogram
LATENCY_PERCENTILES: dict[str, float] = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0}


@dataclass(frozen=True)
class RunPoint:
    """One stored run as the store hands it over. metrics: scenario -> metric -> value ("*" = whole run).
    histograms: scenario -> base64 HdrHistogram (values in µs, latency from the intended start); may be empty.
    An optional "requests" entry next to the metrics enables the two-proportion test on error_rate."""

    run_id: str
    started_at: datetime
    metrics: Mapping[str, Mapping[str, float]]
    histograms: Mapping[str, str] = field(default_factory=dict)
    excluded: bool = False


@dataclass(frozen=True)
class GateConfig:
    """Same-night gate settings (defaults: research/regression_anchors.md §7.2, docs/METHOD.md)."""

    window: int = 20
    min_history: int = 10
    z: float = 4.0
    confidence: float = 0.99
    resamples: int = 10_000
    seed: int = 0
    noisy_cv_fraction: float = 0.5  # a series whose robust CV exceeds this share of its floor is "noisy"
    # The noisy rule's CV comes from up to this many comparable runs (since the last accepted change), not only
    # the 20-run baseline: the spread of a series is a property of the series, and with 20 runs the estimate of
    # the CV is itself so uncertain that a steady 2.6 % series read above 3.75 % on 6.7 % of nights.
    noise_window: int = 60
    # Per-scenario latency is judged after dividing out the run's common mode (the median ratio to baseline across
    # scenarios): a machine that is 8 % slower tonight moves every scenario, and the scenario that changed is the
    # one that moved beyond the rest. The "*" (whole run) rows are not adjusted, so a run-wide slowdown still gates.
    common_mode: bool = True
    common_mode_min_scenarios: int = 3
    floors: Mapping[str, float] = field(default_factory=lambda: dict(FLOORS))

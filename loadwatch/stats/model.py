"""The vocabulary shared by the gate and the change-point detector: runs, metrics, directions, floors, defaults.

Defaults and their sources are explained in docs/METHOD.md (research/regression_anchors.md §7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ALL",
    "ATTRIBUTION_METRICS",
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
# The attribution metrics (loadwatch.attribution, docs/METHOD.md §8) are judged by the same gate and change-point
# detector as the rest; they explain a regression and never fail a run by themselves (compare.decide_verdict).
ATTRIBUTION_METRICS = (
    "db_ms_per_req",
    "db_calls_per_req",
    "blks_hit_per_req",
    "blks_read_per_req",
    "rows_per_req",
    "cpu_ms_per_req",
    "cache_hit_rate",
    "stmt_mean_ms",
    "stmt_calls_per_req",
)
METRICS = ("p50_ms", "p95_ms", "p99_ms", "rps", "error_rate", "cpu_percent", "rss_mb", *ATTRIBUTION_METRICS)

# +1: a higher value is worse; -1: a higher value is better.
DIRECTION: dict[str, int] = {
    "p50_ms": 1,
    "p95_ms": 1,
    "p99_ms": 1,
    "rps": -1,
    "error_rate": 1,
    "cpu_percent": 1,
    "rss_mb": 1,
    "db_ms_per_req": 1,
    "db_calls_per_req": 1,
    "blks_hit_per_req": 1,
    "blks_read_per_req": 1,
    "rows_per_req": 1,
    "cpu_ms_per_req": 1,
    "cache_hit_rate": -1,
    "stmt_mean_ms": 1,
    "stmt_calls_per_req": 1,
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
    # Attribution floors. Database time and CPU per request: 10 %, as cpu_percent (both follow the host's speed and
    # the buffer cache's state). Calls, blocks hit and rows per request: 10 % (fixed per request for a given mix;
    # they vary only with the scenario mix drawn tonight, a few % at a few hundred requests). Blocks read: 50 %
    # (reads from outside shared buffers are rare and bursty, a checkpoint or an eviction doubles them). Cache hit
    # rate: 5 % relative (98 % -> 93 %). A statement's mean: 20 %, wider than a percentile's because one statement's
    # mean over a few hundred calls moves with single slow calls; a lost index or an N+1 is several-fold anyway.
    "db_ms_per_req": 0.10,
    "db_calls_per_req": 0.10,
    "blks_hit_per_req": 0.10,
    "blks_read_per_req": 0.50,
    "rows_per_req": 0.10,
    "cpu_ms_per_req": 0.10,
    "cache_hit_rate": 0.05,
    "stmt_mean_ms": 0.20,
    "stmt_calls_per_req": 0.10,
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

"""The vocabulary shared by the gate and the change-point detector: runs, metrics, directions, floors, defaults.

Defaults and their sources are explained in docs/METHOD.md (research/regression_anchors.md §7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from loadwatch.vocabulary import ALL, ATTRIBUTION_METRICS, METRICS

__all__ = [
    "ALL",
    "ATTRIBUTION_METRICS",
    "DIRECTION",
    "ERROR_RATE_FLOOR_POINTS",
    "ERROR_RATE_FLOOR_RATIO",
    "FLOORS",
    "LATENCY_PERCENTILES",
    "METRICS",
    "PROBE_KEY",
    "GateConfig",
    "RunPoint",
]


# +1: a higher value is worse; -1: a higher value is better.
DIRECTION: dict[str, int] = {
    "p50_ms": 1,
    "p95_ms": 1,
    "p99_ms": 1,
    "p999_ms": 1,
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
    "capacity_rps": -1,
}

# Smallest effect worth a verdict, relative to the baseline median (fractions). error_rate is special:
# it must move by ERROR_RATE_FLOOR_POINTS percentage points AND by a factor ERROR_RATE_FLOOR_RATIO.
FLOORS: dict[str, float] = {
    "p50_ms": 0.05,
    "p95_ms": 0.075,
    "p99_ms": 0.10,
    "p999_ms": 0.15,  # the far tail: fewer requests behind it, so a wider floor than p99
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
    # Twice the search's resolution (3 %, docs/METHOD.md §10): the bracket's quantisation alone (2.2 % in
    # benchmarks/results/capacity.md) cannot reach it; a 20 % capacity loss is over three floors away.
    "capacity_rps": 0.06,
}
ERROR_RATE_FLOOR_POINTS = 0.5
ERROR_RATE_FLOOR_RATIO = 1.5

# metric -> percentile read from a latency histogram
LATENCY_PERCENTILES: dict[str, float] = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "p999_ms": 99.9}

# The machine-drift probe value the gate adjusts by (RunPoint.probe): ms of a fixed CPU micro-benchmark timed on
# the generator host in the same run (loadwatch.observe.probe). The target cannot move it.
PROBE_KEY = "cpu_ms"


@dataclass(frozen=True)
class RunPoint:
    """One stored run as the store hands it over. metrics: scenario -> metric -> value ("*" = whole run).
    histograms: scenario -> base64 HdrHistogram (values in µs, latency from the intended start); may be empty.
    An optional "requests" entry next to the metrics enables the two-proportion test on error_rate; an optional
    "intended_rps" entry on "*" marks an open-model run (throughput judged as achieved vs intended).
    probe: the machine-drift probe measured in the same run ({"cpu_ms": ..., "echo_us": ...}), or None."""

    run_id: str
    started_at: datetime
    metrics: Mapping[str, Mapping[str, float]]
    histograms: Mapping[str, str] = field(default_factory=dict)
    excluded: bool = False
    probe: Mapping[str, float] | None = None


@dataclass(frozen=True)
class GateConfig:
    """Same-night gate settings (defaults: research/regression_anchors.md §7.2, docs/METHOD.md)."""

    window: int = 20
    min_history: int = 10
    z: float = 4.0
    confidence: float = 0.99
    resamples: int = 10_000
    seed: int = 0
    # Machine drift: a probe fit is used only when it removes at least this share of a series' robust spread, with
    # a slope (d log metric / d log probe) between 0 and probe_max_slope (docs/METHOD.md §3, "Machine drift").
    probe_min_gain: float = 0.2
    probe_min_kendall_z: float = 2.576  # one-sided p < 0.005 that the probe tracks the series by chance
    probe_max_slope: float = 2.0
    floors: Mapping[str, float] = field(default_factory=lambda: dict(FLOORS))

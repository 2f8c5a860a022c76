"""Bootstrap intervals for percentile ratios, straight from stored HdrHistograms.

Resampling N requests with replacement from a histogram (multinomial over its buckets) and reading the q-th
percentile has an exact distribution: the k-th order statistic of the resample is <= bucket j exactly when
Binomial(N, F_j) >= k, F_j being the histogram's cumulative share up to bucket j. So instead of drawing
10 000 multinomials over thousands of buckets we draw 10 000 uniforms and invert that CDF: the same bootstrap
distribution, in milliseconds. See docs/METHOD.md."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram
from scipy.special import bdtrc

__all__ = ["BucketCounts", "decode_counts", "percentile", "percentile_draws", "pool", "ratio_interval"]


@dataclass(frozen=True)
class BucketCounts:
    """Non-empty buckets of a latency histogram: values (µs, highest equivalent value, ascending) and counts."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def decode_counts(blob: str) -> BucketCounts | None:
    """The buckets of a base64 HdrHistogram (as `hdrh` encodes it); None when empty or unreadable."""
    if not blob:
        return None
    try:
        base64.b64decode(blob, validate=False)
        h = HdrHistogram.decode(blob)
    except Exception:  # a corrupt stored blob (hdrh's cookie/length errors, zlib.error...) is no histogram
        return None
    if h is None or h.total_count <= 0:
        return None
    counts = np.ctypeslib.as_array(h.counts).astype(np.int64)
    nz = np.flatnonzero(counts)
    return BucketCounts(values=_highest_equivalent_values(h, nz), counts=counts[nz])


def _highest_equivalent_values(h: HdrHistogram, index: np.ndarray) -> np.ndarray:
    """hdrh's get_highest_equivalent_value(get_value_from_index(i)) for every i at once (the same integer
    arithmetic, vectorised: one Python call per bucket cost ~1 s for a year of 10-scenario histograms)."""
    half_mag = int(h.sub_bucket_half_count_magnitude)
    half = int(h.sub_bucket_half_count)
    unit = int(h.unit_magnitude)
    idx = index.astype(np.int64)
    bucket = (idx >> half_mag) - 1
    sub = (idx & (half - 1)) + half
    first = bucket < 0
    sub[first] -= half
    bucket[first] = 0
    lowest = sub << (bucket + unit)
    highest: np.ndarray = (lowest + (np.int64(1) << (bucket + unit)) - 1).astype(np.float64)
    return highest


def pool(parts: Iterable[BucketCounts]) -> BucketCounts | None:
    """Exact union of several histograms' buckets (the pooled baseline)."""
    items = list(parts)
    if not items:
        return None
    values = np.concatenate([p.values for p in items])
    counts = np.concatenate([p.counts for p in items])
    uniq, inverse = np.unique(values, return_inverse=True)
    return BucketCounts(values=uniq, counts=np.bincount(inverse, weights=counts).astype(np.int64))


def _rank(total: int, q: float) -> int:
    # hdrh's definition: target count = round(q% of N), at least 1
    return max(int(q * total / 100.0 + 0.5), 1)


def percentile(b: BucketCounts, q: float) -> float:
    """The q-th percentile in µs, as hdrh reports it."""
    cum = np.cumsum(b.counts)
    return float(b.values[min(int(np.searchsorted(cum, _rank(b.total, q), side="left")), len(b.values) - 1)])


def percentile_draws(b: BucketCounts, q: float, draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` bootstrap replicates of the q-th percentile (exact multinomial-bootstrap distribution)."""
    n = b.total
    k = _rank(n, q)
    share = np.minimum(np.cumsum(b.counts) / n, 1.0)
    cdf = bdtrc(k - 1, n, share)  # binomial survival function: P(percentile of a resample <= bucket j)
    cdf[-1] = 1.0
    cdf = np.maximum.accumulate(cdf)
    idx = np.minimum(np.searchsorted(cdf, rng.random(draws), side="left"), len(b.values) - 1)
    out: np.ndarray = b.values[idx]
    return out


def ratio_interval(
    current: BucketCounts, baseline: BucketCounts, q: float, *, confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of percentile(current) / percentile(baseline); both resampled independently."""
    rng = np.random.default_rng(seed)
    a = percentile_draws(current, q, resamples, rng)
    b = percentile_draws(baseline, q, resamples, rng)
    ratio = a / np.maximum(b, 1e-12)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(ratio, [alpha, 1.0 - alpha])
    return float(lo), float(hi)

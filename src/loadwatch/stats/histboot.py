"""The bootstrap of a percentile, straight from a stored HdrHistogram's buckets (loadwatch.hist.BucketCounts).

Resampling N requests with replacement from a histogram (multinomial over its buckets) and reading the q-th
percentile has an exact distribution: the k-th order statistic of the resample is <= bucket j exactly when
Binomial(N, F_j) >= k, F_j being the histogram's cumulative share up to bucket j. So instead of drawing
10 000 multinomials over thousands of buckets we draw 10 000 uniforms and invert that CDF: the same bootstrap
distribution, in milliseconds. See docs/METHOD.md.

The histogram itself (decoding, bucket arrays, hdrh's percentile rank) is loadwatch.hist's."""

from __future__ import annotations

import numpy as np
from scipy.special import bdtrc

from loadwatch.hist import BucketCounts, rank

__all__ = ["percentile_draws"]


def percentile_draws(b: BucketCounts, q: float, draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` bootstrap replicates of the q-th percentile (exact multinomial-bootstrap distribution)."""
    n = b.total
    k = rank(n, q)
    share = np.minimum(np.cumsum(b.counts) / n, 1.0)
    cdf = bdtrc(k - 1, n, share)  # binomial survival function: P(percentile of a resample <= bucket j)
    cdf[-1] = 1.0
    cdf = np.maximum.accumulate(cdf)
    idx = np.minimum(np.searchsorted(cdf, rng.random(draws), side="left"), len(b.values) - 1)
    out: np.ndarray = b.values[idx]
    return out

"""The exact percentile bootstrap against the brute-force one (multinomial resamples of the same histogram)."""

from __future__ import annotations

import numpy as np
import pytest

from loadwatch import hist
from loadwatch.stats import histboot


def _buckets(seed: int, n: int) -> hist.BucketCounts:
    rng = np.random.default_rng(seed)
    h = hist.new_hist()
    # whole 100 µs steps: a few dozen buckets, so the two distributions are compared value by value
    hist.record_many(h, (rng.lognormal(8, 0.6, n) / 100).astype(np.int64) * 100)
    b = hist.decode_counts(hist.encode(h))
    assert b is not None and b.total == n
    return b


@pytest.mark.parametrize(("q", "n"), [(50.0, 400), (95.0, 400), (99.0, 2000)])
def test_draws_follow_the_brute_force_bootstrap_distribution(q: float, n: int) -> None:
    b = _buckets(int(q), n)
    draws = 20_000
    exact = histboot.percentile_draws(b, q, draws, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    k = hist.rank(n, q)
    brute = np.empty(draws)
    for i in range(draws):  # resample N requests, read the q-th percentile as hdrh does (value at rank k)
        counts = rng.multinomial(n, b.counts / n)
        brute[i] = b.values[int(np.searchsorted(np.cumsum(counts), k, side="left"))]
    support = np.union1d(exact, brute)
    p_exact = np.array([np.mean(exact == v) for v in support])
    p_brute = np.array([np.mean(brute == v) for v in support])
    # total variation distance of the two sampled distributions: ~0.01 from sampling noise, 0.08-0.18 if the
    # rank were off by two
    assert 0.5 * np.abs(p_exact - p_brute).sum() < 0.05
    assert set(np.unique(exact)) <= set(b.values.tolist())

"""Change points in one series: windowed E-Divisive means with a Student t-test, weak -> strong merge.

A re-implementation of Apache Otava's published method (Fleming et al., ICPE 2023; otava/analysis.py, Apache-2.0)
with three deliberate differences, all explained in docs/METHOD.md §4:
  * segments shorter than `min_segment` (3) runs are never created, except the newest runs' (2, `tail_segment`):
    a one- or two-night excursion is not a change, and a change two runs ago is still seen (pending);
  * the t-test gets sample standard deviations (ddof=1), not population ones, so p-values are not optimistic;
  * a point is kept only if the Mann-Whitney rank test of the same two segments agrees at the same level
    (`rank_check`): the t-test's variance is all in one or two wild nights, so a pair of spikes a few nights apart
    made a "segment" of its own; ranks do not care how far a night is off.
Everything is deterministic (no permutations, no random numbers)."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, stdtr

__all__ = ["MIN_SEGMENT", "TAIL_SEGMENT", "ChangePoint", "detect_change_points", "segment_stats"]

MIN_SEGMENT = 3
# The newest runs may form a shorter last segment: a change two runs ago is reported (pending, see history.py)
# at the right run instead of waiting a night or being placed one run early.
TAIL_SEGMENT = 2


@dataclass(frozen=True)
class ChangePoint:
    """A change starting at `index` (the first run of the new segment)."""

    index: int
    forward_change_percent: float
    magnitude: float
    p_value: float
    mean_before: float
    mean_after: float
    std_before: float
    std_after: float


def _qhat_candidate(x: np.ndarray, min_segment: int, tail: int) -> tuple[int, float] | None:
    """The split tau of x maximising Székely-Rizzo/Matteson-James Q-hat over all (tau, kappa) with both parts
    at least min_segment long, except that a right part reaching the end of x may be `tail` long (x ends where
    the series ends: the newest runs); returns (tau, qhat) relative to x, or None when x is too short."""
    n_all = len(x)
    if n_all < min_segment + tail:  # tail <= min_segment (detect_change_points clamps it)
        return None
    d = np.abs(x[:, None] - x[None, :])
    p = np.zeros((n_all + 1, n_all + 1))
    p[1:, 1:] = d.cumsum(axis=0).cumsum(axis=1)

    def block(a: np.ndarray, b: np.ndarray, c: np.ndarray, e: np.ndarray) -> np.ndarray:
        out: np.ndarray = p[b, e] - p[a, e] - p[b, c] + p[a, c]
        return out

    taus, kappas = np.meshgrid(np.arange(n_all + 1), np.arange(n_all + 1), indexing="ij")
    ok = (taus >= min_segment) & ((kappas - taus >= min_segment) | ((kappas == n_all) & (kappas - taus >= tail)))
    t = taus[ok]
    k = kappas[ok]
    zero = np.zeros_like(t)
    n = t.astype(np.float64)
    m = (k - t).astype(np.float64)
    xy = block(zero, t, t, k)
    xx = block(zero, t, zero, t) / 2.0
    yy = block(t, k, t, k) / 2.0
    q = 2.0 / (m + n) * xy - 2.0 * m / ((m + n) * (n - 1.0)) * xx - 2.0 * n / ((m + n) * (m - 1.0)) * yy
    best = int(np.argmax(q))  # first maximum: deterministic tie-break (earliest split)
    return int(t[best]), float(q[best])


def _student_p(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int) -> float:
    """Two-sided p of Student's pooled-variance t-test from summary statistics: the same arithmetic as
    scipy.stats.ttest_ind_from_stats(equal_var=True), through scipy.special directly (scipy.stats costs
    0.4 s more to import, and `loadwatch report` pays it on every call)."""
    df = n_a + n_b - 2
    pooled = ((n_a - 1) * std_a**2 + (n_b - 1) * std_b**2) / df
    t = (mean_a - mean_b) / math.sqrt(pooled * (1.0 / n_a + 1.0 / n_b))
    return float(2.0 * stdtr(df, -abs(t)))


def segment_stats(left: Sequence[float] | np.ndarray, right: Sequence[float] | np.ndarray) -> ChangePoint:
    """Two-sided Student t-test between two segments (index left as 0; the caller sets it)."""
    a = np.asarray(left, dtype=np.float64)
    b = np.asarray(right, dtype=np.float64)
    mean_a, mean_b = float(a.mean()), float(b.mean())
    std_a = float(a.std(ddof=1)) if len(a) >= 2 else 0.0
    std_b = float(b.std(ddof=1)) if len(b) >= 2 else 0.0
    if len(a) + len(b) <= 2:
        p_value = 1.0
    elif std_a == 0.0 and std_b == 0.0:
        # constant segments: a t statistic is undefined; equal means -> no evidence, different -> certain
        p_value = 1.0 if mean_a == mean_b else 0.0
    else:
        p_value = _student_p(mean_a, std_a, len(a), mean_b, std_b, len(b))
        if math.isnan(p_value):
            p_value = 1.0
    forward = (mean_b / mean_a - 1.0) if mean_a != 0 else (0.0 if mean_b == 0 else math.copysign(math.inf, mean_b))
    backward = (mean_a / mean_b - 1.0) if mean_b != 0 else (0.0 if mean_a == 0 else math.copysign(math.inf, mean_a))
    return ChangePoint(
        index=0,
        forward_change_percent=forward * 100.0,
        magnitude=max(abs(forward), abs(backward)),
        p_value=p_value,
        mean_before=mean_a,
        mean_after=mean_b,
        std_before=std_a,
        std_after=std_b,
    )


@functools.lru_cache(maxsize=4096)
def _u_null_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u) for u = 0..m*n under no change, U the Mann-Whitney count of (left > right) pairs without ties:
    the exact distribution (the recursion f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u), vectorised over u)."""
    f = [np.zeros(m * n + 1) for _ in range(m + 1)]  # f[i] over u for (i, j), updated as j grows
    for i in range(m + 1):
        f[i][0] = 1.0  # j = 0: one arrangement, U = 0
    for j in range(1, n + 1):
        for i in range(1, m + 1):
            # f(i, j, u) = f(i - 1, j, u - j) + f(i, j - 1, u): f[i] still holds (i, j - 1), f[i - 1] holds (i - 1, j)
            shifted = np.zeros(m * n + 1)
            shifted[j:] = f[i - 1][: m * n + 1 - j]
            f[i] = f[i] + shifted
    counts = f[m]
    cdf: np.ndarray = np.cumsum(counts) / counts.sum()
    return cdf


EXACT_RANK_LIMIT = 400  # m*n above this: the normal approximation (with tie correction) is accurate enough


def rank_p(left: np.ndarray, right: np.ndarray) -> float:
    """Two-sided Mann-Whitney p-value of two segments: exact (mid-ranks for ties, conservative) for small segments,
    the tie-corrected normal approximation with continuity correction for large ones."""
    m, n = len(left), len(right)
    if m == 0 or n == 0:
        return 1.0
    both = np.concatenate([left, right])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(m + n)
    sorted_v = both[order]
    # mid-ranks
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    mid = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mid, counts)
    u = float(ranks[:m].sum() - m * (m + 1) / 2.0)
    small = min(u, m * n - u)
    if m * n <= EXACT_RANK_LIMIT:
        cdf = _u_null_cdf(min(m, n), max(m, n))
        return float(min(1.0, 2.0 * cdf[math.floor(small)]))
    tie = float((counts**3 - counts).sum()) / ((m + n) * (m + n - 1))
    var = m * n / 12.0 * ((m + n + 1) - tie)
    if var <= 0:
        return 1.0
    z = (m * n / 2.0 - small - 0.5) / math.sqrt(var)
    return float(min(1.0, 2.0 * ndtr(-max(z, 0.0))))


def _stats_at(series: np.ndarray, indexes: list[int], i: int) -> ChangePoint:
    lo = indexes[i - 1] if i > 0 else 0
    hi = indexes[i + 1] if i + 1 < len(indexes) else len(series)
    cp = segment_stats(series[lo : indexes[i]], series[indexes[i] : hi])
    return ChangePoint(index=indexes[i], **{k: v for k, v in cp.__dict__.items() if k != "index"})


def _split_window(x: np.ndarray, max_pvalue: float, min_segment: int, tail: int) -> list[int]:
    """Divisive E-Divisive inside one window: keep splitting the segment with the largest Q-hat while the split
    passes the t-test at max_pvalue (Otava's ChangePointDetector with the t-test tester)."""
    cps: list[int] = []
    while True:
        bounds = [0, *cps, len(x)]
        best: tuple[float, int, int, int] | None = None  # (qhat, tau, lo, hi)
        for lo, hi in itertools.pairwise(bounds):
            cand = _qhat_candidate(x[lo:hi], min_segment, tail if hi == len(x) else min_segment)
            if cand is not None and (best is None or cand[1] > best[0]):
                best = (cand[1], lo + cand[0], lo, hi)
        if best is None:
            return cps
        _, tau, lo, hi = best
        if segment_stats(x[lo:tau], x[tau:hi]).p_value > max_pvalue:
            return cps
        cps = sorted([*cps, tau])


def _split(series: np.ndarray, window: int, max_pvalue: float, min_segment: int, tail: int) -> list[int]:
    """Otava's split step: windows of `window` runs advancing by half a window (or to the last change found)."""
    start = 0
    step = max(window // 2, 1)
    found: set[int] = set()
    while start < len(series):
        end = min(start + window, len(series))
        new = [start + c for c in _split_window(series[start:end], max_pvalue, min_segment,
                                                tail if end == len(series) else min_segment)]
        found.update(new)
        start = max(max(new) if new else 0, start + step)
    return sorted(found)


def _merge(
    series: np.ndarray,
    indexes: list[int],
    max_pvalue: float,
    min_magnitude: float,
    min_abs_change: float,
    min_segment: int,
    tail: int,
    rank_pvalue: float | None = None,
) -> list[ChangePoint]:
    """Otava's merge step: drop the weakest point until all have p < max_pvalue and magnitude > min_magnitude;
    first, though, drop points that leave a segment shorter than min_segment (the last segment: shorter than
    tail), weakest of those first."""
    idx = list(indexes)
    while idx:
        cps = [_stats_at(series, idx, i) for i in range(len(idx))]
        bounds = [0, *idx, len(series)]
        short = [
            i
            for i in range(len(idx))
            if bounds[i + 1] - bounds[i] < min_segment
            or bounds[i + 2] - bounds[i + 1] < (tail if bounds[i + 2] == len(series) else min_segment)
        ]
        # how far each point is from passing: the t-test, and (when asked) the rank test of the same two segments
        score = [cp.p_value / max_pvalue for cp in cps]
        if rank_pvalue is not None:
            for i in range(len(cps)):
                left, right = series[bounds[i] : bounds[i + 1]], series[bounds[i + 1] : bounds[i + 2]]
                # the newest runs may be too few for a rank test to reach the level at all (2 new runs against 28
                # old: p >= 0.0046): a change that recent is left to the t-test, as before, so it is still seen
                # (pending) at its own run; every other segment must pass both
                newest = bounds[i + 2] == len(series)
                if not newest or 2.0 / math.comb(len(left) + len(right), len(left)) <= rank_pvalue:
                    score[i] = max(score[i], rank_p(left, right) / rank_pvalue)
        if short:
            drop = max(short, key=lambda i: (cps[i].p_value, -cps[i].magnitude))
        else:
            drop = max(range(len(cps)), key=lambda i: score[i])
            if score[drop] < 1.0:
                drop = min(
                    range(len(cps)), key=lambda i: (cps[i].magnitude, abs(cps[i].mean_after - cps[i].mean_before))
                )
                weak = [
                    i
                    for i in range(len(cps))
                    if cps[i].magnitude <= min_magnitude or abs(cps[i].mean_after - cps[i].mean_before) < min_abs_change
                ]
                if not weak:
                    return cps
                if drop not in weak:
                    drop = min(weak, key=lambda i: cps[i].magnitude)
        del idx[drop]
    return []


def detect_change_points(
    values: Sequence[float],
    *,
    window: int = 30,
    max_pvalue: float = 0.001,
    min_magnitude: float = 0.0,
    min_abs_change: float = 0.0,
    min_segment: int = MIN_SEGMENT,
    tail_segment: int = TAIL_SEGMENT,
    rank_check: bool = True,
) -> list[ChangePoint]:
    """Change points of `values` (oldest first). `min_magnitude` is Otava's relative magnitude
    max(|m2/m1 - 1|, |m1/m2 - 1|); `min_abs_change` an optional absolute floor on |m2 - m1| (error rates);
    `rank_check=False` gives the t-test alone (Otava's decision)."""
    if window < 2 * min_segment:
        raise ValueError(f"window must be at least {2 * min_segment}")
    if not 0.0 < max_pvalue < 1.0:
        raise ValueError("max_pvalue must be in (0, 1)")
    series = np.asarray([float(v) for v in values], dtype=np.float64)
    tail = min(tail_segment, min_segment)
    if len(series) < min_segment + tail or not np.all(np.isfinite(series)):
        if not np.all(np.isfinite(series)):
            raise ValueError("values must be finite numbers")
        return []
    # relaxed first pass, as Otava: 10x the final threshold (at most 0.05), so the merge can re-test weak points
    first_pass = max_pvalue * 10 if max_pvalue < 0.05 else (max_pvalue * 2 if max_pvalue < 0.5 else max_pvalue)
    weak = _split(series, window, first_pass, min_segment, tail)
    return _merge(series, weak, max_pvalue, min_magnitude, min_abs_change, min_segment, tail,
                  max_pvalue if rank_check else None)

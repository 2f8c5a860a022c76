"""Paired A/B statistics for two builds measured in the same session, in alternating rounds (loadwatch ab).

Rounds run in ABBA order (A B | B A | A B | ...); each adjacent pair holds one round of each build, so a slow
drift of the machine adds +δ to one pair's difference and −δ to the next and cancels in their median. Per scenario
and percentile:

* d_i = log(percentile of B / percentile of A) in pair i (each round's own HdrHistogram);
* the Hodges–Lehmann estimate of the shift (median of the Walsh averages (d_i + d_j)/2, i <= j) and its
  distribution-free interval from the exact Wilcoxon signed-rank distribution (Hollander & Wolfe; Bauer 1972);
* tails (p90 and above) also from the rounds' pooled histograms: the exact multinomial bootstrap of each build's
  pooled percentile (loadwatch.stats.histboot); a tail is called changed only when both intervals agree;
* a verdict against the floor f: regression (interval above 0 and estimate >= f), improvement (the mirror), no
  change beyond the floor (interval inside (−f, +f)), else inconclusive.

The false-alarm rate is held at `alpha` for the whole session: Bonferroni over the rows judged, and over the looks
of the sequential stopping rule an alpha-spending function of the O'Brien–Fleming type (Lan & DeMets 1983), each
look testing at the level it spends. A union bound makes the sum of the levels a bound on the family-wise error
whatever the correlation between looks, so the rule needs no normal approximation. docs/METHOD.md §13.

Pure: numpy, scipy and loadwatch.hist only."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy.stats import fisher_exact, norm

from loadwatch.hist import BucketCounts, decode_counts, rank
from loadwatch.stats.histboot import percentile_draws

__all__ = [
    "AB_FLOORS",
    "ERRORS_SHARE",
    "TAIL_FROM",
    "Interval",
    "PairedConfig",
    "Row",
    "Verdict",
    "hl_interval",
    "hodges_lehmann",
    "judge_errors",
    "judge_rounds",
    "look_alpha",
    "min_pairs",
    "pair_rounds",
    "power",
    "round_seconds",
    "row_levels",
    "signed_rank_cdf",
    "spent_alpha",
    "verdict",
]

Verdict = Literal["regression", "improvement", "no_change", "inconclusive", "not_judged"]

# Smallest change worth a verdict when both builds run in the same session. Half the gate's floors (METHOD.md §2):
# alternation removes the night-to-night part of the noise the gate's floors were sized for, and the target
# (+5 % p50, +10 % p95 found) must sit clearly above them.
AB_FLOORS: dict[str, float] = {"p50": 0.025, "p90": 0.04, "p95": 0.05, "p99": 0.075, "p999": 0.10}
PERCENTILE_Q: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
TAIL_FROM = 90.0  # percentiles from here on are also judged on the pooled histograms
# The error-rate row's share of each look's level (the latency rows share the rest): a build that answers errors
# fast would otherwise look faster. Its floor is the gate's (METHOD.md §2): +0.5 points and ×1.5.
ERRORS_SHARE = 0.1
ERROR_FLOOR_POINTS = 0.5
ERROR_FLOOR_RATIO = 1.5


@dataclass(frozen=True)
class PairedConfig:
    alpha: float = 0.01  # family-wise false-alarm rate over every row and look of one session
    looks: int = 3  # the stopping rule's looks at equal shares of the budget
    percentiles: tuple[str, ...] = ("p50", "p95")
    floors: Mapping[str, float] = field(default_factory=lambda: dict(AB_FLOORS))
    min_above: int = 10  # requests above a percentile in every round before its per-round value means something
    resamples: int = 4000
    seed: int = 0


@dataclass(frozen=True)
class Interval:
    """A log-ratio estimate B/A with its interval (± inf: the data cannot bound it at this level)."""

    estimate: float
    low: float
    high: float

    def percent(self) -> tuple[float, float, float]:
        return tuple(100.0 * math.expm1(v) if math.isfinite(v) else v for v in (self.estimate, self.low, self.high))  # type: ignore[return-value]


@dataclass(frozen=True)
class Row:
    """One scenario × percentile. ms_a / ms_b: the per-pair values (ms) of each build, in pair order."""

    scenario: str
    percentile: str
    verdict: Verdict
    reason: str
    pairs: int
    level: float  # the two-sided level the interval was computed at (this row's share of this look's alpha)
    floor: float
    paired: Interval | None
    pooled: Interval | None
    pooled_ms: tuple[float, float] | None  # each build's percentile over all its rounds
    ms_a: tuple[float, ...] = ()
    ms_b: tuple[float, ...] = ()
    min_detectable: float | None = None  # half-width of the paired interval, as a fraction (what this row can see)


# ---------------------------------------------------------------- Hodges–Lehmann and the signed-rank distribution


@lru_cache(maxsize=256)
def signed_rank_cdf(n: int) -> np.ndarray:
    """P(T+ <= t) for t = 0 .. n(n+1)/2 under the null (exact: counts of subsets of 1..n by their sum, / 2^n)."""
    counts = np.zeros(n * (n + 1) // 2 + 1, dtype=np.float64)
    counts[0] = 1.0
    top = 0
    for k in range(1, n + 1):
        counts[k : top + k + 1] += counts[: top + 1].copy()
        top += k
    cdf: np.ndarray = np.cumsum(counts) / 2.0**n
    return cdf


def _walsh(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(len(d))
    w: np.ndarray = np.sort((d[i] + d[j]) / 2.0)
    return w


def hodges_lehmann(d: Sequence[float] | np.ndarray) -> float:
    """The median of the Walsh averages: the shift estimate that goes with the signed-rank test."""
    return float(np.median(_walsh(np.asarray(d, dtype=np.float64))))


def hl_interval(d: Sequence[float] | np.ndarray, level: float) -> Interval:
    """Hodges–Lehmann estimate with the distribution-free interval of two-sided level `level` (coverage >= 1 −
    level): the C-th smallest and largest Walsh averages, C the number of t with P(T+ <= t) <= level/2. With too
    few pairs for the level (2^-n > level/2) the interval is unbounded."""
    x = np.asarray(d, dtype=np.float64)
    if x.size == 0:
        return Interval(math.nan, -math.inf, math.inf)
    w = _walsh(x)
    est = float(np.median(w))
    c = int(np.count_nonzero(signed_rank_cdf(int(x.size)) <= level / 2.0))
    if c == 0:
        return Interval(est, -math.inf, math.inf)
    return Interval(est, float(w[c - 1]), float(w[len(w) - c]))


# ---------------------------------------------------------------- the stopping rule's alpha spending


def spent_alpha(alpha: float, t: float) -> float:
    """O'Brien–Fleming-type spending function (Lan & DeMets 1983): alpha spent by information fraction t."""
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    return float(2.0 - 2.0 * norm.cdf(norm.ppf(1.0 - alpha / 2.0) / math.sqrt(t)))


def look_alpha(alpha: float, look: int, looks: int) -> float:
    """The level look `look` (1-based, of `looks` equally spaced) may test at: what the spending function spends
    between the previous look and this one. The levels of all looks add up to `alpha`."""
    if not 1 <= look <= looks:
        raise ValueError(f"look must be in 1..{looks}, got {look}")
    return spent_alpha(alpha, look / looks) - spent_alpha(alpha, (look - 1) / looks)


def power(sigma: float, pairs: int, effect: float, level: float, *, floor: float = 0.0, sims: int = 2000,
          seed: int = 0) -> float:
    """The probability that a row with `pairs` pairs is called a regression at `level` (interval above 0, estimate
    at least the floor) when the pair differences are normal with mean `effect` (log ratio) and standard deviation
    `sigma`: simulated with the procedure itself, since the signed-rank interval's discreteness at a few pairs
    makes the asymptotic formula (efficiency 3/π of the t-test, Hodges & Lehmann 1956) 10 points optimistic."""
    if pairs < 1:
        return 0.0
    rng = np.random.default_rng(seed)
    f = math.log1p(floor)
    hits = 0
    for _ in range(sims):
        iv = hl_interval(rng.normal(effect, max(sigma, 1e-12), pairs), level)
        hits += iv.low > 0 and iv.estimate >= f
    return hits / sims


def round_seconds(rate: float, percentile: str, min_above: int, *, at_least: float = 2.0) -> float:
    """A round long enough that the highest judged percentile of the whole run has `min_above` requests above it."""
    q = PERCENTILE_Q[percentile]
    # 1.5x: a round measures a little less than rate x seconds (start, rounding of hdrh's rank), and every round
    # must clear the bar, not the average one
    return max(at_least, math.ceil(1.5 * min_above / ((1.0 - q / 100.0) * rate)))


# ---------------------------------------------------------------- verdicts


def verdict(iv: Interval, floor: float) -> Verdict:
    f = math.log1p(floor)
    if iv.low > 0 and iv.estimate >= f:
        return "regression"
    if iv.high < 0 and iv.estimate <= -f:
        return "improvement"
    if iv.low > -f and iv.high < f:
        return "no_change"
    return "inconclusive"


def _value_us(b: BucketCounts, q: float) -> float:
    cum = np.cumsum(b.counts)
    idx = min(int(np.searchsorted(cum, rank(b.total, q), side="left")), len(b.values) - 1)
    return float(b.values[idx])


def _merge(parts: Sequence[BucketCounts]) -> BucketCounts:
    values = np.concatenate([p.values for p in parts])
    counts = np.concatenate([p.counts for p in parts])
    uniq, inv = np.unique(values, return_inverse=True)
    return BucketCounts(values=uniq, counts=np.bincount(inv, weights=counts).astype(np.int64))


def _pooled(a: BucketCounts, b: BucketCounts, q: float, level: float, cfg: PairedConfig) -> Interval:
    rng = np.random.default_rng(cfg.seed)
    da = percentile_draws(a, q, cfg.resamples, rng)
    db = percentile_draws(b, q, cfg.resamples, rng)
    lr = np.log(db / da)
    est = math.log(_value_us(b, q) / _value_us(a, q))
    lo, hi = np.quantile(lr, [level / 2.0, 1.0 - level / 2.0])
    return Interval(est, float(lo), float(hi))


def _thinnest(pairs: list[tuple[BucketCounts | None, BucketCounts | None]], q: float) -> int:
    """Requests above the q-th percentile in the thinnest round (0 when a round has none of the scenario)."""
    if not pairs or any(a is None or b is None for a, b in pairs):
        return 0
    return min(n - rank(n, q) for a, b in pairs for n in (a.total, b.total))  # type: ignore[union-attr]


def _row(scenario: str, pct: str, pairs: list[tuple[BucketCounts | None, BucketCounts | None]], level: float,
         cfg: PairedConfig) -> Row:
    q = PERCENTILE_Q[pct]
    floor = float(cfg.floors.get(pct, AB_FLOORS[pct]))
    base = {"scenario": scenario, "percentile": pct, "pairs": len(pairs), "level": level, "floor": floor}
    thin = _thinnest(pairs, q)
    present = [(a, b) for a, b in pairs if a is not None and b is not None]
    if thin < cfg.min_above:
        reason = (f"{thin} request(s) above {pct} in the thinnest round; needs {cfg.min_above} in every round "
                  "(longer rounds or a higher rate)")
        return Row(verdict="not_judged", reason=reason, paired=None, pooled=None, pooled_ms=None, **base)  # type: ignore[arg-type]
    ua = [_value_us(a, q) for a, _ in present]  # type: ignore[misc]
    ub = [_value_us(b, q) for _, b in present]  # type: ignore[misc]
    paired = hl_interval([math.log(y / x) for x, y in zip(ua, ub, strict=True)], level)
    pa = _merge([a for a, _ in present])  # type: ignore[misc]
    pb = _merge([b for _, b in present])  # type: ignore[misc]
    pooled = _pooled(pa, pb, q, level, cfg)
    v = verdict(paired, floor)
    reason = ""
    if q >= TAIL_FROM and v in ("regression", "improvement") and verdict(pooled, floor) != v:
        reason = f"the paired rounds say {v}, the pooled histograms do not agree"
        v = "inconclusive"
    elif v == "inconclusive":
        reason = ("too few pairs for this level" if not math.isfinite(paired.low)
                  else "the interval straddles the floor")
    half = (paired.high - paired.low) / 2.0 if math.isfinite(paired.low) else None
    return Row(verdict=v, reason=reason, paired=paired, pooled=pooled,
               pooled_ms=(_value_us(pa, q) / 1000.0, _value_us(pb, q) / 1000.0),
               ms_a=tuple(x / 1000.0 for x in ua), ms_b=tuple(y / 1000.0 for y in ub),
               min_detectable=math.expm1(half) if half is not None else None, **base)  # type: ignore[arg-type]


def pair_rounds(order: Sequence[str]) -> list[tuple[int, int]]:
    """(index of the A round, index of the B round) of every complete adjacent pair of rounds 0-1, 2-3, ..."""
    out: list[tuple[int, int]] = []
    for k in range(0, len(order) - 1, 2):
        x, y = order[k], order[k + 1]
        if {x, y} == {"A", "B"}:
            out.append((k, k + 1) if x == "A" else (k + 1, k))
    return out


def judge_rounds(order: Sequence[str], histograms: Sequence[Mapping[str, str]], look_level: float,
                 cfg: PairedConfig) -> list[Row]:
    """Every scenario × percentile over the complete pairs of `order` (each round "A" or "B"; `histograms[i]`:
    scenario -> encoded latency histogram of round i). `look_level` is this look's share of the session's alpha,
    split evenly over the rows judged (Bonferroni)."""
    pairs = pair_rounds(order)
    decoded = [{s: decode_counts(h) for s, h in rnd.items()} for rnd in histograms]
    scenarios = sorted({s for rnd in decoded for s in rnd}, key=lambda s: (s != "*", s))
    if len(scenarios) == 2 and scenarios[0] == "*":
        scenarios = ["*"]  # one scenario: its rows are the whole run's, judged once (no level spent twice)
    plan = [(s, p) for s in scenarios for p in cfg.percentiles]
    per_pair = {s: [(decoded[a].get(s), decoded[b].get(s)) for a, b in pairs] for s in scenarios}
    # the rows that can be judged share the level; a row that cannot be judged spends none
    judgeable = [(s, p) for s, p in plan if _thinnest(per_pair[s], PERCENTILE_Q[p]) >= cfg.min_above]
    levels = row_levels(judgeable, look_level)
    return [_row(s, p, per_pair[s], levels.get((s, p), look_level), cfg) for s, p in plan]


def row_levels(rows: Sequence[tuple[str, str]], look_level: float) -> dict[tuple[str, str], float]:
    """Weighted Bonferroni: the whole run's rows share half of the look's level and the scenarios' rows the other
    half (all of it when only one kind is judged), so adding scenarios does not dilute the whole run's power."""
    total = [r for r in rows if r[0] == "*"]
    parts = [r for r in rows if r[0] != "*"]
    share = 0.5 if total and parts else 1.0
    out = {r: share * look_level / len(total) for r in total}
    out.update({r: share * look_level / len(parts) for r in parts})
    return out


def min_pairs(level: float) -> int:
    """The fewest pairs whose exact signed-rank interval at `level` is bounded: 2^-n <= level/2."""
    return max(1, math.ceil(math.log2(2.0 / level)))



def judge_errors(errors_a: int, requests_a: int, errors_b: int, requests_b: int, level: float) -> Row:
    """The whole run's error rate, B against A over all rounds: Fisher's exact test (one-sided each way, at half
    the level) and the gate's floor. No change when the difference is below the floor and not significant."""
    ra = 100.0 * errors_a / requests_a if requests_a else 0.0
    rb = 100.0 * errors_b / requests_b if requests_b else 0.0
    base = {"scenario": "*", "percentile": "error_rate", "pairs": 0, "level": level, "floor": ERROR_FLOOR_RATIO - 1,
            "paired": None, "pooled": None, "pooled_ms": None}
    if not requests_a or not requests_b:
        return Row(verdict="not_judged", reason="no requests", **base)  # type: ignore[arg-type]
    table = [[errors_b, requests_b - errors_b], [errors_a, requests_a - errors_a]]
    worse = float(fisher_exact(table, alternative="greater")[1])
    better = float(fisher_exact(table, alternative="less")[1])
    beyond = abs(rb - ra) >= ERROR_FLOOR_POINTS and max(ra, rb) >= ERROR_FLOOR_RATIO * min(ra, rb)
    what = f"errors {ra:.2f} % → {rb:.2f} %"
    if worse < level / 2 and beyond and rb > ra:
        return Row(verdict="regression", reason=what, **base)  # type: ignore[arg-type]
    if better < level / 2 and beyond and rb < ra:
        return Row(verdict="improvement", reason=what, **base)  # type: ignore[arg-type]
    if abs(rb - ra) < ERROR_FLOOR_POINTS:
        return Row(verdict="no_change", reason=what, **base)  # type: ignore[arg-type]
    return Row(verdict="inconclusive", reason=what, **base)  # type: ignore[arg-type]

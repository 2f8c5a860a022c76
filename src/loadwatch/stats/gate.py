"""The same-night gate: the newest run against a rolling baseline of comparable runs (docs/METHOD.md §3).

Per scenario x metric, in the metric's bad (or good) direction, on the log scale for ratio metrics (latency,
throughput, CPU, RSS) and in percentage points for the error rate:
  z      effect / band >= z*(n) (`critical_z`: z at a full window, more with fewer nights), where the band joins
         the spread *between* nights (Qn of the baseline) and the sampling error *within* tonight's run (from its
         histogram, or the binomial error of its error rate; for p50 only tonight's excess over a typical night)
  floor  the effect exceeds the metric's floor (p95 7.5 %, ...; error rate +0.5 points and x1.5)
  ci     a 99 % interval of the effect excludes "no change"; the interval is of the very quantity reported
         beside it (`change`), built from both sources of variation
All three -> regression (or improvement); one or two -> suspect. A noisy series never switches judgment off: its
spread widens the band, so the smallest effect it can show grows (`noise.min_detectable_percent`), and a large
effect is a regression however noisy the series is.

Machine drift is removed only through a probe the target cannot move (RunPoint.probe: a fixed CPU micro-benchmark
timed on the generator host in the same run), never by comparing scenarios with each other: a slowdown of every
scenario is a regression of every scenario."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri, stdtr, stdtrit  # t and normal functions without importing scipy.stats

from loadwatch import hist
from loadwatch.stats import histboot
from loadwatch.stats.model import (
    ALL,
    DIRECTION,
    ERROR_RATE_FLOOR_POINTS,
    ERROR_RATE_FLOOR_RATIO,
    LATENCY_PERCENTILES,
    METRICS,
    PROBE_KEY,
    GateConfig,
    RunPoint,
)

__all__ = [
    "OUTCOMES",
    "compare_run",
    "newcombe_interval",
    "prediction_interval",
    "probe_fit",
    "qn_scale",
    "robust_z",
    "short_of_z",
]

OUTCOMES = ("regression", "improvement", "suspect", "ok", "insufficient_history")
MEAN_AD_SCALE = 1.2533  # mean absolute deviation -> sigma, the fallback when more than half the values are equal
# Every metric but the error rate (percentage points) is judged as a ratio on the log scale: multiplicative noise
# and effects from 10 % to 30x on one footing.
# Metrics the machine-drift probe may explain (the target's own speed follows its host's CPU).
PROBED_METRICS = frozenset({*LATENCY_PERCENTILES, "cpu_percent"})


def qn_scale(values: np.ndarray) -> float:
    """Rousseeuw-Croux Qn scale (normal-consistent, small-sample corrected): 50 % breakdown like MAD but 82 %
    efficiency instead of 37 %, so a 20-run baseline gives a much steadier band."""
    n = len(values)
    if n < 2:
        return 0.0
    diffs = np.abs(values[:, None] - values[None, :])[np.triu_indices(n, k=1)]
    h = n // 2 + 1
    k = h * (h - 1) // 2
    q = float(np.partition(diffs, k - 1)[k - 1]) * 2.2219
    if n <= 9:
        q *= (0.399, 0.994, 0.512, 0.844, 0.611, 0.857, 0.669, 0.872)[n - 2]
    else:
        q *= n / (n + 1.4) if n % 2 else n / (n + 3.8)
    return q


def _sigma(values: np.ndarray, centre: float) -> float:
    s = qn_scale(values)
    if s > 0:
        return s
    # More than half the values equal: the mean absolute deviation of the closest 75 % (one or two outage nights
    # in the baseline must not widen the band); 0 when they are all equal, and then any difference counts.
    dev = np.sort(np.abs(values - centre))
    return MEAN_AD_SCALE * float(dev[: max(int(np.ceil(0.75 * len(dev))), 1)].mean())


def robust_z(value: float, baseline: Sequence[float] | np.ndarray) -> float | None:
    """(value - median) / robust sigma; None when the baseline has no spread and the value differs (infinite)."""
    arr = np.asarray(baseline, dtype=np.float64)
    med = float(np.median(arr))
    s = _sigma(arr, med)
    if s == 0:
        return 0.0 if value == med else None
    return (value - med) / s


def prediction_interval(
    value: float, baseline: Sequence[float] | np.ndarray, confidence: float
) -> tuple[float, float] | None:
    """Interval of value - mean(baseline) such that "no change" lies inside it with the given confidence, for one
    new run drawn like the baseline runs (Student t, n - 1 degrees of freedom)."""
    arr = np.asarray(baseline, dtype=np.float64)
    n = len(arr)
    if n < 2:
        return None
    half = float(stdtrit(n - 1, 0.5 + confidence / 2)) * float(arr.std(ddof=1)) * math.sqrt(1 + 1 / n)
    diff = value - float(arr.mean())
    return diff - half, diff + half


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(centre - half, 0.0), min(centre + half, 1.0)


def newcombe_interval(k1: float, n1: float, k0: float, n0: float, confidence: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) of p1 - p0; sound with zero counts, unlike Wald."""
    z = float(ndtri(0.5 + confidence / 2))
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = _wilson(k1, n1, z)
    l0, u0 = _wilson(k0, n0, z)
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


# --------------------------------------------------------------------------------------------- machine probe


@dataclass(frozen=True)
class ProbeFit:
    """log(metric) = a + slope * log(probe) over the baseline; applied only when it explains the spread."""

    slope: float
    centre: float  # median log(probe) of the baseline: values are moved to this probe reading
    spread_raw: float
    spread_adjusted: float
    slope_se: float = 0.0  # standard error of the slope (the adjusted spread over the probe readings' spread)


def probe_fit(log_values: np.ndarray, log_probe: np.ndarray, cfg: GateConfig) -> ProbeFit | None:
    """Theil-Sen slope of the metric on the probe (robust to a bad night on either axis), kept only if the two are
    rank-correlated beyond chance (Kendall), the slope is positive and it removes at least `probe_min_gain` of the
    series' robust spread: a probe that does not explain a series leaves it alone, and one that cannot see the
    target can never explain a change of the target away."""
    n = len(log_values)
    if n < cfg.min_history or float(np.ptp(log_probe)) == 0.0:
        return None
    i, j = np.triu_indices(n, k=1)
    dx = log_probe[j] - log_probe[i]
    keep = dx != 0
    if keep.sum() < n:
        return None
    # Kendall's S (the rank correlation that goes with Theil-Sen): the probe must track the series beyond chance
    # (one-sided, normal approximation with the tie-free variance) before it may move anything
    s_stat = float(np.sign(dx).dot(np.sign(log_values[j] - log_values[i])))
    if s_stat / math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0) < cfg.probe_min_kendall_z:
        return None
    slope = float(np.median((log_values[j] - log_values[i])[keep] / dx[keep]))
    if not 0.0 < slope <= cfg.probe_max_slope:
        return None
    centre = float(np.median(log_probe))
    adjusted = log_values - slope * (log_probe - centre)
    raw_s = _sigma(log_values, float(np.median(log_values)))
    adj_s = _sigma(adjusted, float(np.median(adjusted)))
    if raw_s <= 0 or adj_s > (1.0 - cfg.probe_min_gain) * raw_s:
        return None
    # the least-squares standard error with the robust residual spread (Theil-Sen is about as efficient on normal
    # data): a slope from ten nights is uncertain, and tonight's adjustment carries that uncertainty
    sxx = float(np.sum((log_probe - log_probe.mean()) ** 2))
    slope_se = adj_s / math.sqrt(sxx) if sxx > 0 else 0.0
    return ProbeFit(slope=slope, centre=centre, spread_raw=raw_s, spread_adjusted=adj_s, slope_se=slope_se)


def _probe(run: RunPoint) -> float | None:
    v = (run.probe or {}).get(PROBE_KEY)
    return float(v) if v is not None and math.isfinite(float(v)) and float(v) > 0 else None


# --------------------------------------------------------------------------------------------- rows


class _Hists:
    """Decodes each run's histogram once per compare_run call."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], hist.BucketCounts | None] = {}

    def get(self, run: RunPoint, scenario: str) -> hist.BucketCounts | None:
        key = (run.run_id, scenario)
        if key not in self._cache:
            blob = run.histograms.get(scenario) if run.histograms else None
            self._cache[key] = hist.decode_counts(blob) if blob else None
        return self._cache[key]


def _requests(run: RunPoint, scenario: str, hist: hist.BucketCounts | None) -> float | None:
    n = (run.metrics.get(scenario) or {}).get("requests")
    if n is not None and n > 0:
        return float(n)
    return float(hist.total) if hist is not None else None


def _count(run: RunPoint, scenario: str) -> float | None:
    n = (run.metrics.get(scenario) or {}).get("requests")
    return float(n) if n is not None and n > 0 else None


def _excess_share(current: RunPoint, runs: Sequence[RunPoint], scenario: str,
                  cur_hist: hist.BucketCounts) -> float:
    """sqrt(max(0, 1 - N / N_typ)): the share of tonight's sampling sigma beyond a typical baseline night's, from
    the request counts (1 when they are unknown: then tonight's error counts in full)."""
    n_now = _count(current, scenario) or float(cur_hist.total)
    counts = [_count(r, scenario) for r in runs]
    if not counts or any(c is None for c in counts):
        return 1.0
    n_typ = float(np.median(np.asarray(counts, dtype=np.float64)))
    return math.sqrt(max(0.0, 1.0 - n_now / n_typ))


def _base_row(scenario: str, metric: str, value: float, runs: Sequence[RunPoint], floor: float) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "metric": metric,
        "value": value,
        "baseline": None,
        "change": None,
        "change_unit": "points" if metric == "error_rate" else "percent",
        "change_percent": None,
        "ci": None,
        "ci_unit": "points" if metric == "error_rate" else "percent",
        "ci_method": None,
        "robust_z": None,
        "checks": {"z": False, "floor": False, "ci": None},
        "cv": None,
        "noise": None,
        "outcome": "insufficient_history",
        "baseline_run_ids": [r.run_id for r in runs],
        "n_baseline": len(runs),
        "direction": DIRECTION[metric],
        "floor": floor,
    }


QN_EFFICIENCY = 0.82  # Qn's Gaussian efficiency: a spread from n nights is worth about 0.82 (n - 1) degrees of freedom


def critical_z(n: int, cfg: GateConfig) -> float:
    """The z a row must reach with a baseline of n nights: `cfg.z` at a full window, and the same one-sided
    false-alarm probability (Student t with Qn's effective degrees of freedom) with fewer nights, whose spread is
    itself less certain. At window 20 / z 4: p = 5.1e-4 per row; 10 nights need z 5.18, 15 nights 4.33."""
    full = max(QN_EFFICIENCY * (cfg.window - 1), 1.0)
    df = max(QN_EFFICIENCY * (min(n, cfg.window) - 1), 1.0)
    if df >= full:
        return cfg.z
    return float(stdtrit(df, float(stdtr(full, cfg.z))))


def _decide(row: dict[str, Any], d: int, z: float | None, effect: float, floor_bad: bool, floor_good: bool,
            ci: list[float] | None, cfg: GateConfig) -> None:
    """Fill checks and outcome from the three tests, in the bad direction d (+1: higher is worse). The z check
    needs `critical_z` for the row's baseline size. There is no "not new" rule: a value two baseline nights already
    reached is judged like any other, and regression nights nobody accepted are no baseline (the store holds them
    out, docs/METHOD.md "Open changes")."""
    crit = critical_z(int(row["n_baseline"]), cfg)
    row["z_critical"] = round(crit, 3)
    z_bad = (d * effect > 0) if z is None else d * z >= crit
    z_good = (d * effect < 0) if z is None else -d * z >= crit
    ci_bad = None if ci is None else (ci[0] > 0 if d > 0 else ci[1] < 0)
    ci_good = None if ci is None else (ci[1] < 0 if d > 0 else ci[0] > 0)
    row["robust_z"] = z
    row["checks"] = {"z": bool(z_bad), "floor": bool(floor_bad), "ci": ci_bad}
    bad = [z_bad, floor_bad] + ([ci_bad] if ci_bad is not None else [])
    good = [z_good, floor_good] + ([ci_good] if ci_good is not None else [])
    if all(bad):
        row["outcome"] = "regression"
    elif all(good) and row.get("improvable", True):
        row["outcome"] = "improvement"
        row["checks"] = {"z": bool(z_good), "floor": bool(floor_good), "ci": ci_good}
    elif any(bad):
        row["outcome"] = "suspect"
    else:
        row["outcome"] = "ok"
    row.pop("improvable", None)


def short_of_z(row: Mapping[str, Any], *, interval_required: bool) -> bool:
    """A `suspect` row past its floor with its 99 % interval clear of no change in the bad direction: a change the z
    check alone leaves short (few or noisy nights). With `interval_required` False a row whose interval is unknown
    counts too. The verdict names such rows (pipeline.compare); a second load's row like this reproduces the first
    (pipeline.confirm, METHOD §3.7)."""
    checks = row.get("checks") or {}
    if row.get("outcome") != "suspect" or not checks.get("floor"):
        return False
    ci = checks.get("ci")
    return ci is True or (ci is None and not interval_required)


def _noise(spread: float, within: float, floor: float, n: int, cfg: GateConfig, *, log_scale: bool) -> dict[str, Any]:
    """How much this series moves, and the smallest effect the rule can show on it (the floor, or the z band)."""
    band = critical_z(n, cfg) * math.sqrt(spread * spread + within * within)
    if log_scale:
        cv = math.expm1(spread) * 100
        detectable = max(floor * 100, math.expm1(band) * 100)
    else:
        cv = spread
        detectable = max(ERROR_RATE_FLOOR_POINTS, band)
    return {
        "cv_percent" if log_scale else "sd_points": round(cv, 3),
        "min_detectable_percent" if log_scale else "min_detectable_points": round(detectable, 3),
        "n": n,
        "noisy": detectable > 2 * (floor * 100 if log_scale else ERROR_RATE_FLOOR_POINTS),
    }


@dataclass(frozen=True)
class _Series:
    """One row's inputs: tonight's value of a scenario's metric, the baseline runs and their values."""

    scenario: str
    metric: str
    value: float
    current: RunPoint
    runs: list[RunPoint]
    values: np.ndarray
    cfg: GateConfig
    hists: _Hists

    def parts(self) -> tuple[str, str, float, RunPoint, list[RunPoint], np.ndarray, GateConfig, _Hists]:
        return self.scenario, self.metric, self.value, self.current, self.runs, self.values, self.cfg, self.hists


def _ratio_row(series: _Series, row: dict[str, Any]) -> None:
    scenario, metric, value, current, runs, values, cfg, hists = series.parts()
    floor = float(row["floor"])
    d = DIRECTION[metric]
    if value <= 0 or np.any(values <= 0):
        _linear_row(metric, value, values, cfg, row)
        return
    logs = np.log(values)
    y = math.log(value)
    # machine drift, through the probe (same-run covariate the target cannot move)
    probes = [_probe(r) for r in runs]
    p_now = _probe(current)
    slope_err = 0.0
    if metric in PROBED_METRICS and p_now is not None and all(p is not None for p in probes):
        log_probes = np.log(np.asarray(probes, dtype=np.float64))
        fit = probe_fit(logs, log_probes, cfg)
        if fit is not None:
            # never extrapolate: a reading outside the baseline's own range explains at most what its edge does,
            # so a misread probe (or a target that slowed its host) cannot explain a regression away
            x_now = min(max(math.log(p_now), float(log_probes.min())), float(log_probes.max()))
            logs = logs - fit.slope * (log_probes - fit.centre)
            shift = fit.slope * (x_now - fit.centre)
            y = y - shift
            # tonight's adjustment is only as sure as the slope: its error grows with tonight's distance from the
            # baseline's centre reading (a regression's prediction variance), and joins the band below
            slope_err = fit.slope_se * abs(x_now - fit.centre)
            row["probe"] = {"slope": round(fit.slope, 4), "slope_se": round(fit.slope_se, 4),
                            "spread_raw": round(fit.spread_raw, 5),
                            "spread_adjusted": round(fit.spread_adjusted, 5), "factor": round(math.exp(shift), 5),
                            "clamped": x_now != math.log(p_now)}
    n = len(logs)
    centre = float(np.median(logs))
    spread = math.hypot(_sigma(logs, centre), slope_err)
    # Within tonight: how far below (and above) its point estimate tonight's percentile could plausibly be, from the
    # exact bootstrap of this run's own histogram: the distance from the median draw to the 15.9th (84.1th) percentile
    # draw, a one-sigma equivalent on each side. One-sided on purpose: a p95 that sits where a slow minority of
    # requests begins has a bimodal bootstrap (most draws slow, a few fast), and a symmetric spread of it would hide
    # a 30x regression behind its own few fast draws.
    below = above = 0.0
    ci_method = "prediction_interval"
    cur_hist = hists.get(current, scenario) if metric in LATENCY_PERCENTILES else None
    if cur_hist is not None:
        draws = np.log(np.maximum(histboot.percentile_draws(
            cur_hist, LATENCY_PERCENTILES[metric], cfg.resamples, np.random.default_rng(cfg.seed)), 1.0))
        lo_q, mid, hi_q = np.quantile(draws, [0.158655, 0.5, 0.841345])
        below, above = float(mid - lo_q), float(hi_q - mid)
        ci_method = "bootstrap_histogram+between_nights"
        if LATENCY_PERCENTILES[metric] <= 50.0:
            # The median's sampling error is symmetric and near-normal, so the nights' Qn already holds a typical
            # night's share of it in full: only tonight's excess over a typical night is added (sampling variance
            # goes as 1/N, so the excess is s_w^2 (1 - N/N_typ), 0 when tonight has the usual request count).
            # Counting it twice hid +20 % steps at CV <= 5 % (z 3.2-3.9). Not so for the tails (below).
            share = _excess_share(current, runs, scenario, cur_hist)
            below, above = below * share, above * share
    # Tonight's sampling error counts in full beside the nights' robust spread. The nights' values hold their own
    # sampling error too, but Qn sees only the core of it: a high percentile from a few hundred requests is skewed
    # to the right (an order statistic near the top), and that tail is what a robust scale is built to ignore.
    # Counting only the excess over a typical night raised false regressions from 0.6-3.7 to 5.6-7.5 per 100
    # clean nights on the synthetic suites (benchmarks/results/stats_gate.md).
    effect = y - centre
    # a rise is judged against how much lower tonight could be, a fall against how much higher
    toward_zero = below if effect > 0 else above
    sd = math.sqrt(spread * spread + toward_zero * toward_zero)
    z = None if sd == 0 else effect / sd
    if sd == 0 and effect == 0:
        z = 0.0
    t = float(stdtrit(max(n - 1, 1), 0.5 + cfg.confidence / 2))
    between = spread * spread * (1 + 1 / n)
    ci = [math.expm1(effect - t * math.sqrt(between + below * below)) * 100,
          math.expm1(effect + t * math.sqrt(between + above * above)) * 100]
    change = math.expm1(effect) * 100
    rel = math.expm1(effect)
    floor_bad, floor_good = d * rel >= floor, -d * rel >= floor
    # the baseline as it would read at tonight's probe (so baseline, value and change agree)
    row["baseline"] = math.exp(centre + (math.log(row["probe"]["factor"]) if "probe" in row else 0.0))
    row["change"] = row["change_percent"] = change
    if "probe" in row:
        row["raw_change_percent"] = (value / float(np.median(values)) - 1) * 100
    row["ci"], row["ci_method"] = ci, ci_method
    row["cv"] = math.expm1(spread)
    row["within"] = [round(below, 6), round(above, 6)]
    # the smallest regression this row can show: judged against tonight's downward uncertainty
    row["noise"] = _noise(spread, below if d > 0 else above, floor, n, cfg, log_scale=True)
    _decide(row, d, z, effect, floor_bad, floor_good, ci, cfg)


def _linear_row(metric: str, value: float, values: np.ndarray, cfg: GateConfig, row: dict[str, Any]) -> None:
    """A series with zeros has no log scale: the robust z and a Student prediction interval on the raw values."""
    med = float(np.median(values))
    d = DIRECTION[metric]
    floor = float(row["floor"])
    z = robust_z(value, values)
    pi = prediction_interval(value, values, cfg.confidence)
    half = (pi[1] - pi[0]) / 2 if pi else None  # the prediction half-width, centred on the reported change
    rel = (value / med - 1) if med else (1.0 if value > 0 else 0.0)
    if med:
        row["change"] = row["change_percent"] = rel * 100
        row["ci"] = [(value - med - half) / med * 100, (value - med + half) / med * 100] if half is not None else None
    else:  # from zero there is no ratio: the interval and the change are in the metric's own unit
        row["change"], row["change_unit"], row["ci_unit"] = value - med, "units", "units"
        row["ci"] = [value - med - half, value - med + half] if half is not None else None
    row["ci_method"] = "prediction_interval"
    _decide(row, d, z, value - med, d * rel >= floor, -d * rel >= floor, row["ci"], cfg)


def _error_rate_row(series: _Series, row: dict[str, Any]) -> None:
    scenario, _, value, current, runs, values, cfg, hists = series.parts()
    n = len(values)
    med = float(np.median(values))
    spread = _sigma(values, med)
    n1 = _requests(current, scenario, hists.get(current, scenario))
    ns = [_requests(r, scenario, hists.get(r, scenario)) for r in runs]
    within = 0.0
    t = float(stdtrit(max(n - 1, 1), 0.5 + cfg.confidence / 2))
    between_half = t * spread * math.sqrt(1 + 1 / n)
    # One centre for the change, the floor and z: the baseline nights' median (a pooled rate would be dominated by
    # one outage night's requests).
    base = med
    point = value - med
    if n1 and all(ns):
        n0 = float(sum(x for x in ns if x))
        k0 = float(sum(v / 100 * x for v, x in zip(values, ns, strict=True) if x))
        lo, hi = newcombe_interval(value / 100 * n1, n1, k0, n0, cfg.confidence)
        # Newcombe's half-widths (within the runs, sound with zero counts) joined with the nights' spread
        d_pooled = value / 100 - k0 / n0
        lo_w, hi_w = (d_pooled - lo) * 100, (hi - d_pooled) * 100
        ci = [point - math.hypot(lo_w, between_half), point + math.hypot(hi_w, between_half)]
        # tonight's sampling error under "no change": the binomial error of the difference at the pooled rate
        # (at tonight's own rate a 0 -> 10 % jump on 100 requests would widen its own band)
        pbar = (value / 100 * n1 + k0) / (n1 + n0)
        n_typ = float(np.median([x for x in ns if x]))
        within = 100 * math.sqrt(max(pbar * (1 - pbar), 1e-12) * (1 / n1 + 1 / n_typ))
        method = "newcombe_two_proportions+between_nights"
    else:
        ci = [point - between_half, point + between_half]
        method = "prediction_interval"
    sd = math.sqrt(spread * spread + within * within)
    z = None if sd == 0 else point / sd
    if sd == 0 and point == 0:
        z = 0.0
    worse = point >= ERROR_RATE_FLOOR_POINTS and value >= ERROR_RATE_FLOOR_RATIO * base
    better = -point >= ERROR_RATE_FLOOR_POINTS and value * ERROR_RATE_FLOOR_RATIO <= base
    row["baseline"] = base
    row["change"] = point
    row["change_percent"] = (value / base - 1) * 100 if base > 0 else None
    row["ci"], row["ci_method"] = ci, method
    row["cv"] = spread / med if med > 0 else None
    row["noise"] = _noise(spread, within, 0.0, n, cfg, log_scale=False)
    _decide(row, 1, z, point, worse, better, ci, cfg)


def _one(
    scenario: str,
    metric: str,
    value: float,
    current: RunPoint,
    runs: list[RunPoint],
    cfg: GateConfig,
    hists: _Hists,
    *,
    improvable: bool = True,
) -> dict[str, Any]:
    floor = float(cfg.floors.get(metric, 0.0))
    row = _base_row(scenario, metric, value, runs, floor)
    if not runs:
        return row
    values = np.asarray([_value(r, scenario, metric) for r in runs], dtype=np.float64)
    row["baseline"] = float(np.median(values))
    if len(values) < cfg.min_history:
        return row
    row["improvable"] = improvable
    series = _Series(scenario, metric, value, current, runs, values, cfg, hists)
    (_error_rate_row if metric == "error_rate" else _ratio_row)(series, row)
    return row


def _value(run: RunPoint, scenario: str, metric: str) -> float:
    """The value the gate judges: open-model throughput as achieved/intended (capped at 1: sends that catch up
    after a stall are not an improvement), everything else as stored."""
    block = run.metrics[scenario]
    v = float(block[metric])
    if metric == "rps":
        intended = block.get("intended_rps")
        if intended:
            return min(v / float(intended), 1.0)
    return v


# A tail percentile is judged only when tonight has at least this many requests above it (p95: 60 requests, p99:
# 300, p99.9: 3,000): below that the "p99.9" is the maximum of one or two requests, one scheduler hiccup moves it,
# and it is no estimate of a tail (on the project's loaded box such rows were most of the false regressions). 5 (the
# first choice) cost the tails of 300-500-request scenarios their p99, and a p95 where a slow minority of 5-8 %
# begins cannot be told from the body on one night: tail-only steps were found 95 % instead of 100 % on the tuning
# suite, with the same false regressions at 3 (docs/METHOD.md §3.4).
MIN_TAIL_COUNT = 3


def _tail_estimable(run: RunPoint, scenario: str, metric: str, hists: _Hists) -> bool:
    q = LATENCY_PERCENTILES.get(metric)
    if q is None or q <= 50.0:
        return True
    n = _requests(run, scenario, hists.get(run, scenario))
    if n is None:
        return True  # no request count and no histogram (an imported or hand-made series): judged as given
    return n * (1.0 - q / 100.0) >= MIN_TAIL_COUNT


def _judged(run: RunPoint, scenario: str, metric: str) -> bool:
    """A value the gate may use: present, finite, and for a latency positive (a stored 0 ms is an old run's
    "no answers", never a latency)."""
    block = run.metrics.get(scenario) or {}
    v = block.get(metric)
    if v is None or not math.isfinite(float(v)):
        return False
    return float(v) > 0 or metric not in LATENCY_PERCENTILES


def compare_run(
    current: RunPoint, history: Sequence[RunPoint], config: GateConfig | None = None
) -> list[dict[str, Any]]:
    """One row per scenario x known metric present in `current`, against the last `window` non-excluded runs of
    `history` (oldest first, already cut at the last accepted change) that have the same scenario x metric.

    Open-model throughput (a run whose "*" block carries `intended_rps`) is judged on "*" only, as achieved vs
    intended: per-scenario rates there are the plan's weights, not a measurement of the target."""
    cfg = config or GateConfig()
    usable = [r for r in history if not r.excluded and r.run_id != current.run_id]
    hists = _Hists()
    rows: list[dict[str, Any]] = []
    open_model = bool((current.metrics.get(ALL) or {}).get("intended_rps"))
    for scenario in sorted(current.metrics):
        for metric in METRICS:
            if not _judged(current, scenario, metric):
                continue
            if metric == "rps" and open_model and scenario != ALL:
                continue
            if not _tail_estimable(current, scenario, metric, hists):
                continue
            series = [r for r in usable if _judged(r, scenario, metric)][-cfg.window:]
            value = _value(current, scenario, metric)
            row = _one(scenario, metric, value, current, series, cfg, hists,
                       improvable=not (metric == "rps" and open_model))
            if metric == "rps" and open_model:
                row["judged_as"] = "achieved / intended rate"
            rows.append(row)
    return rows

"""The same-night gate: the newest run against a rolling baseline of comparable runs (docs/METHOD.md §Gate).

Three checks per scenario x metric, each in the metric's bad (or good) direction:
  z      robust z = (value - median) / Qn >= 4   (Qn: Rousseeuw-Croux robust scale)
  floor  the effect exceeds the metric's floor (p95 7.5 %, ...; error rate +0.5 points and x1.5)
  ci     a 99 % interval excludes "no change": a histogram bootstrap of the percentile ratio for latency,
         a Newcombe interval of the difference of two proportions for the error rate, otherwise a Student
         prediction interval for one new run (rps, CPU, RSS, or latency without histograms).
All three -> regression (or improvement); one or two bad -> suspect; noisy series and short histories never gate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtri, stdtrit  # the t and normal quantiles without importing scipy.stats

from loadwatch.stats import histboot
from loadwatch.stats.model import (
    ALL,
    DIRECTION,
    ERROR_RATE_FLOOR_POINTS,
    ERROR_RATE_FLOOR_RATIO,
    LATENCY_PERCENTILES,
    METRICS,
    GateConfig,
    RunPoint,
)

__all__ = [
    "OUTCOMES",
    "common_mode",
    "compare_run",
    "newcombe_interval",
    "prediction_interval",
    "robust_z",
    "run_common_modes",
]

OUTCOMES = ("regression", "improvement", "suspect", "ok", "noisy", "insufficient_history")
MEAN_AD_SCALE = 1.2533  # mean absolute deviation -> sigma, the fallback when more than half the values are equal


def _qn(values: np.ndarray) -> float:
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
    s = _qn(values)
    if s > 0:
        return s
    dev = np.abs(values - centre)  # more than half the values equal: fall back to the mean absolute deviation
    return MEAN_AD_SCALE * float(dev.mean())


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


def _requests(run: RunPoint, scenario: str, hist: histboot.BucketCounts | None) -> float | None:
    n = (run.metrics.get(scenario) or {}).get("requests")
    if n is not None and n > 0:
        return float(n)
    return float(hist.total) if hist is not None else None


class _Hists:
    """Decodes each run's histogram once per compare_run call."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], histboot.BucketCounts | None] = {}

    def get(self, run: RunPoint, scenario: str) -> histboot.BucketCounts | None:
        key = (run.run_id, scenario)
        if key not in self._cache:
            blob = run.histograms.get(scenario) if run.histograms else None
            self._cache[key] = histboot.decode_counts(blob) if blob else None
        return self._cache[key]


def _interval(
    metric: str,
    scenario: str,
    value: float,
    current: RunPoint,
    runs: Sequence[RunPoint],
    values: np.ndarray,
    cfg: GateConfig,
    hists: _Hists,
) -> tuple[list[float] | None, str, str]:
    """(interval, unit, method): percent change for ratios, percentage points for the error rate."""
    if metric in LATENCY_PERCENTILES:
        cur = hists.get(current, scenario)
        # pool only runs inside the baseline band, so one bad past night cannot shift the pooled percentile
        med = float(np.median(values))
        sigma = _sigma(values, med)
        typical = [r for r, v in zip(runs, values, strict=True) if sigma == 0 or abs(v - med) < cfg.z * sigma]
        base_parts = [h for h in (hists.get(r, scenario) for r in typical) if h is not None]
        if cur is not None and base_parts:
            pooled = histboot.pool(base_parts)
            if pooled is not None:
                lo, hi = histboot.ratio_interval(
                    cur,
                    pooled,
                    LATENCY_PERCENTILES[metric],
                    confidence=cfg.confidence,
                    resamples=cfg.resamples,
                    seed=cfg.seed,
                )
                return [(lo - 1) * 100, (hi - 1) * 100], "percent", "bootstrap_histogram"
    if metric == "error_rate":
        n1 = _requests(current, scenario, hists.get(current, scenario))
        ns = [_requests(r, scenario, hists.get(r, scenario)) for r in runs]
        if n1 and all(ns):
            n0 = float(sum(n for n in ns if n))
            k0 = float(sum(v / 100 * n for v, n in zip(values, ns, strict=True) if n))
            lo, hi = newcombe_interval(value / 100 * n1, n1, k0, n0, cfg.confidence)
            return [lo * 100, hi * 100], "points", "newcombe_two_proportions"
        pi = prediction_interval(value, values, cfg.confidence)
        return (list(pi) if pi else None), "points", "prediction_interval"
    pi = prediction_interval(value, values, cfg.confidence)
    mean = float(values.mean()) if len(values) else 0.0
    if pi is None or mean == 0:
        return None, "percent", "prediction_interval"
    return [pi[0] / mean * 100, pi[1] / mean * 100], "percent", "prediction_interval"


def _floor_checks(metric: str, value: float, med: float, floor: float) -> tuple[bool, bool]:
    """(bad-direction effect above the floor, good-direction effect above the floor)."""
    d = DIRECTION[metric]
    if metric == "error_rate":
        worse = value - med >= ERROR_RATE_FLOOR_POINTS and value >= ERROR_RATE_FLOOR_RATIO * med
        better = med - value >= ERROR_RATE_FLOOR_POINTS and value * ERROR_RATE_FLOOR_RATIO <= med
        return worse, better
    if med == 0:
        return d * value > 0, d * value < 0
    rel = value / med - 1
    return d * rel >= floor, -d * rel >= floor


def _one(
    scenario: str,
    metric: str,
    value: float,
    current: RunPoint,
    runs: list[RunPoint],
    cfg: GateConfig,
    hists: _Hists,
    common: float = 1.0,
    noise_runs: list[RunPoint] | None = None,
) -> dict[str, Any]:
    values = np.asarray([float(r.metrics[scenario][metric]) for r in runs], dtype=np.float64)
    noise = values if noise_runs is None else np.asarray(
        [float(r.metrics[scenario][metric]) for r in noise_runs], dtype=np.float64)
    floor = float(cfg.floors.get(metric, 0.0))
    row: dict[str, Any] = {
        "scenario": scenario,
        "metric": metric,
        "value": value,
        "baseline": None,
        "change_percent": None,
        "ci": None,
        "ci_unit": "percent",
        "ci_method": None,
        "robust_z": None,
        "checks": {"z": False, "floor": False, "ci": None},
        "cv": None,
        "outcome": "insufficient_history",
        "baseline_run_ids": [r.run_id for r in runs],
        "n_baseline": len(runs),
        "direction": DIRECTION[metric],
        "floor": floor,
    }
    if len(values) == 0:
        return row
    med = float(np.median(values))
    row["baseline"] = med
    row["change_percent"] = (value / med - 1) * 100 if med != 0 else None
    noise_med = float(np.median(noise))
    noise_sigma = _sigma(noise, noise_med)
    row["cv"] = noise_sigma / abs(noise_med) if noise_med != 0 else None
    row["n_noise"] = len(noise)
    if len(values) < cfg.min_history:
        return row
    d = DIRECTION[metric]
    raw_value = value
    if common != 1.0:
        value = value / common  # judged relative to the run's common mode (see GateConfig.common_mode)
        row["common_mode"] = common
        row["adjusted_change_percent"] = (value / med - 1) * 100 if med != 0 else None
    z = robust_z(value, values)
    row["robust_z"] = z
    # an infinite z (no spread at all) counts in the direction of the difference
    z_bad = (d * (value - med) > 0) if z is None else d * z >= cfg.z
    z_good = (d * (value - med) < 0) if z is None else -d * z >= cfg.z
    floor_bad, floor_good = _floor_checks(metric, value, med, floor)
    ci, unit, method = _interval(metric, scenario, raw_value, current, runs, values, cfg, hists)
    if ci is not None and common != 1.0 and unit == "percent":
        ci = [((1 + ci[0] / 100) / common - 1) * 100, ((1 + ci[1] / 100) / common - 1) * 100]
    row["ci"], row["ci_unit"], row["ci_method"] = ci, unit, method
    ci_bad = None if ci is None else (ci[0] > 0 if d > 0 else ci[1] < 0)
    ci_good = None if ci is None else (ci[1] < 0 if d > 0 else ci[0] > 0)
    row["checks"] = {"z": bool(z_bad), "floor": bool(floor_bad), "ci": ci_bad}
    if metric == "error_rate":
        noisy = noise_sigma > ERROR_RATE_FLOOR_POINTS * cfg.noisy_cv_fraction
    else:
        noisy = row["cv"] is None or row["cv"] > floor * cfg.noisy_cv_fraction
    bad = [z_bad, floor_bad] + ([ci_bad] if ci_bad is not None else [])
    good = [z_good, floor_good] + ([ci_good] if ci_good is not None else [])
    if noisy:
        row["outcome"] = "noisy"
    elif all(bad):
        row["outcome"] = "regression"
    elif all(good):
        row["outcome"] = "improvement"
        row["checks"] = {"z": bool(z_good), "floor": bool(floor_good), "ci": ci_good}
    elif any(bad):
        row["outcome"] = "suspect"
    else:
        row["outcome"] = "ok"
    return row


def compare_run(
    current: RunPoint, history: Sequence[RunPoint], config: GateConfig | None = None
) -> list[dict[str, Any]]:
    """One row per scenario x known metric present in `current`, against the last `window` non-excluded runs of
    `history` (oldest first, already cut at the last accepted change) that have the same scenario x metric."""
    cfg = config or GateConfig()
    usable = [r for r in history if not r.excluded and r.run_id != current.run_id]
    hists = _Hists()
    rows: list[dict[str, Any]] = []
    common: dict[str, float] = {}
    if cfg.common_mode:
        factors = run_common_modes([*usable[-max(cfg.window, cfg.noise_window) :], current],
                                   usable[-cfg.window :], cfg)
        common = factors.get(current.run_id, {})
        # the history is judged on the same footing: each past night divided by its own common mode, so the
        # machine's night-to-night drift leaves the series' spread (z band, noisy rule) instead of widening it
        usable = [_adjusted(r, factors.get(r.run_id, {})) for r in usable]
    for scenario in sorted(current.metrics):
        block = current.metrics[scenario]
        for metric in METRICS:
            raw = block.get(metric)
            if raw is None or not math.isfinite(float(raw)):
                continue
            series = [
                r
                for r in usable
                if r.metrics.get(scenario, {}).get(metric) is not None
                and math.isfinite(float(r.metrics[scenario][metric]))
            ][-max(cfg.window, cfg.noise_window) :]
            factor = common.get(metric, 1.0) if scenario != ALL else 1.0
            rows.append(_one(scenario, metric, float(raw), current, series[-cfg.window :], cfg, hists, factor,
                             noise_runs=series[-cfg.noise_window :]))
    return rows


def common_mode(current: RunPoint, history: Sequence[RunPoint], cfg: GateConfig) -> dict[str, float]:
    """metric -> the median, across scenarios (not "*"), of this run's value over its baseline median; only for
    latency metrics with at least `common_mode_min_scenarios` scenarios that have a full baseline."""
    return run_common_modes([current], list(history)[-cfg.window :], cfg).get(current.run_id, {})


def run_common_modes(
    runs: Sequence[RunPoint], baseline: Sequence[RunPoint], cfg: GateConfig
) -> dict[str, dict[str, float]]:
    """run_id -> metric -> common mode of that run against the baseline's per-scenario medians."""
    medians: dict[tuple[str, str], float] = {}
    for metric in LATENCY_PERCENTILES:
        for scenario in {s for r in baseline for s in r.metrics if s != ALL}:
            past = [float(r.metrics[scenario][metric]) for r in baseline
                    if r.metrics.get(scenario, {}).get(metric) is not None]
            if len(past) >= cfg.min_history:
                med = float(np.median(past))
                if med > 0:
                    medians[(scenario, metric)] = med
    out: dict[str, dict[str, float]] = {}
    for run in runs:
        for metric in LATENCY_PERCENTILES:
            ratios = [float(block[metric]) / medians[(s, metric)] for s, block in run.metrics.items()
                      if (s, metric) in medians and block.get(metric) is not None]
            if len(ratios) >= cfg.common_mode_min_scenarios:
                out.setdefault(run.run_id, {})[metric] = float(np.median(ratios))
    return out


def _adjusted(run: RunPoint, factors: dict[str, float]) -> RunPoint:
    if not factors:
        return run
    metrics = {
        s: {m: (v / factors[m] if s != ALL and m in factors and v is not None else v) for m, v in block.items()}
        for s, block in run.metrics.items()
    }
    return RunPoint(run_id=run.run_id, started_at=run.started_at, metrics=metrics, histograms=run.histograms,
                    excluded=run.excluded)

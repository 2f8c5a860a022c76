"""The paired A/B statistics (pure): the exact signed-rank distribution, the Hodges–Lehmann estimate and interval,
the alpha spending of the looks, the verdicts, and whole sessions of synthetic rounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import rankdata, wilcoxon

from loadwatch import hist
from loadwatch.stats.paired import (
    Interval,
    PairedConfig,
    hl_interval,
    hodges_lehmann,
    judge_rounds,
    look_alpha,
    min_pairs,
    pair_rounds,
    power,
    row_levels,
    signed_rank_cdf,
    spent_alpha,
    verdict,
)


@pytest.mark.parametrize("n", [1, 5, 9, 16, 25])
def test_signed_rank_cdf_matches_scipy_exact(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        d = rng.normal(0.2, 1.0, n)
        t_plus = int(rankdata(np.abs(d))[d > 0].sum())
        p_less = wilcoxon(d, alternative="less", method="exact").pvalue
        assert signed_rank_cdf(n)[t_plus] == pytest.approx(p_less, rel=1e-12)


def test_signed_rank_golden_hollander_wolfe():
    # R's ?wilcox.test example (Hollander & Wolfe 1973, p. 29: depression scores, n = 9): V = 40, p = 0.01953
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    d = np.subtract(x, y)
    t_plus = int(rankdata(np.abs(d))[d > 0].sum())
    assert t_plus == 40
    assert 1.0 - signed_rank_cdf(9)[t_plus - 1] == pytest.approx(0.01953, abs=5e-6)


def test_hodges_lehmann_by_hand():
    assert hodges_lehmann([1.0, 2.0, 3.0]) == 2.0  # Walsh averages 1, 1.5, 2, 2, 2.5, 3
    assert hodges_lehmann([0.0, 10.0]) == 5.0  # 0, 5, 10
    assert hodges_lehmann([0.0, 0.0, 9.0]) == 2.25  # 0, 0, 0, 4.5, 4.5, 9: between the 3rd and the 4th


def test_hl_interval_is_the_inverted_signed_rank_test():
    """Every shift inside the interval is accepted by the exact two-sided test of d − θ, every shift outside is
    rejected (checked on a grid around both ends)."""
    rng = np.random.default_rng(7)
    d = rng.normal(0.05, 0.03, 14)
    level = 0.02
    iv = hl_interval(d, level)
    cdf = signed_rank_cdf(len(d))
    top = len(d) * (len(d) + 1) // 2

    def accepted(theta: float) -> bool:
        z = d - theta
        t = int(rankdata(np.abs(z))[z > 0].sum())
        return bool(cdf[t] > level / 2 and (1.0 - (cdf[t - 1] if t > 0 else 0.0)) > level / 2 and t <= top)

    eps = 1e-9
    assert accepted(iv.low + eps) and accepted(iv.high - eps) and accepted(iv.estimate)
    assert not accepted(iv.low - 1e-6) and not accepted(iv.high + 1e-6)


def test_hl_interval_unbounded_with_too_few_pairs():
    assert min_pairs(0.05) == 6  # 2^-6 = 0.0156 <= 0.025 < 2^-5
    five = hl_interval([0.1, 0.2, 0.1, 0.15, 0.12], 0.05)
    assert math.isinf(five.low) and math.isinf(five.high)
    six = hl_interval([0.1, 0.2, 0.1, 0.15, 0.12, 0.11], 0.05)
    assert six.low == pytest.approx(0.1) and six.high == pytest.approx(0.2)  # the smallest and largest Walsh average


def test_alpha_spending_adds_up_and_spends_little_early():
    alpha = 0.01
    levels = [look_alpha(alpha, k, 3) for k in (1, 2, 3)]
    assert sum(levels) == pytest.approx(alpha, rel=1e-12)
    assert levels[0] < levels[1] < levels[2]
    assert levels[0] < 1e-4  # O'Brien-Fleming: only an overwhelming answer stops at the first look
    assert spent_alpha(alpha, 1.0) == pytest.approx(alpha)
    with pytest.raises(ValueError):
        look_alpha(alpha, 4, 3)


def test_row_levels_weighted_bonferroni():
    rows = [("*", "p50"), ("*", "p95"), ("a", "p50"), ("b", "p50"), ("c", "p50")]
    lv = row_levels(rows, 0.01)
    assert sum(lv.values()) == pytest.approx(0.01)
    assert lv[("*", "p50")] == pytest.approx(0.0025) and lv[("a", "p50")] == pytest.approx(0.01 / 6)
    assert row_levels([("*", "p50")], 0.01) == {("*", "p50"): 0.01}


@pytest.mark.parametrize(
    ("iv", "expected"),
    [
        (Interval(0.08, 0.05, 0.11), "regression"),
        (Interval(-0.08, -0.11, -0.05), "improvement"),
        (Interval(0.001, -0.01, 0.012), "no_change"),
        (Interval(0.01, 0.004, 0.016), "no_change"),  # real but below the floor
        (Interval(0.02, -0.01, 0.05), "inconclusive"),
        (Interval(0.1, -math.inf, math.inf), "inconclusive"),
    ],
)
def test_verdicts(iv, expected):
    assert verdict(iv, 0.025) == expected


def test_sequential_false_alarm_rate_under_drift_is_nominal():
    """Null sessions whose pairs carry an alternating drift (ABBA: +δ, −δ, ...) and heavy-tailed noise: the share
    of sessions in which any of the three looks calls a change stays at alpha (deterministic draw)."""
    rng = np.random.default_rng(11)
    alpha, n, looks, sessions = 0.10, 15, 3, 3000
    flagged = 0
    for _ in range(sessions):
        drift = 0.03 * np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * np.linspace(0.2, 1.0, n)
        d = drift + 0.02 * rng.standard_t(3, n)
        for k in range(1, looks + 1):
            iv = hl_interval(d[: math.ceil(k * n / looks)], look_alpha(alpha, k, looks))
            if iv.low > 0 or iv.high < 0:
                flagged += 1
                break
    rate = flagged / sessions
    assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / sessions)


def test_power_matches_simulation():
    rng = np.random.default_rng(5)
    sigma, n, effect, level = 0.03, 20, 0.02, 0.01
    hits = sum(hl_interval(rng.normal(effect, sigma, n), level).low > 0 for _ in range(1500))
    predicted = power(sigma, n, effect, level)  # its own seed: an independent draw of the same procedure
    assert abs(hits / 1500 - predicted) < 4 * math.sqrt(predicted * (1 - predicted) / 1500)
    assert power(sigma, n, 0.05, level) > power(sigma, n, 0.02, level) > power(sigma, 10, 0.02, level)
    assert power(sigma, n, 0.02, level, floor=0.05) < 0.05  # a change below the floor is rarely called one


# ---------------------------------------------------------------- sessions of synthetic rounds (real histograms)


def _round(rng: np.random.Generator, median_us: float, n: int) -> str:
    h = hist.new_hist()
    hist.record_many(h, rng.lognormal(math.log(median_us), 0.3, n).astype(np.int64))
    return hist.encode(h)


def _session(rng: np.random.Generator, factor_b: float, pairs: int, n: int = 2000,
             scenarios: tuple[str, ...] = ("s",)) -> tuple[list[str], list[dict[str, str]]]:
    order = [("A", "B", "B", "A")[i % 4] for i in range(2 * pairs)]
    rounds = []
    for i, build in enumerate(order):
        machine = 1.0 + 0.04 * math.sin(i / 3.0)  # slow drift of the machine, shared by both builds
        base = 5000.0 * machine * (factor_b if build == "B" else 1.0)
        hs = {s: _round(rng, base, n) for s in scenarios}
        rounds.append({"*": hist.encode(hist.merge_encoded(hs.values())), **hs})
    return order, rounds


def test_pair_rounds_follow_abba():
    assert pair_rounds(["A", "B", "B", "A", "A"]) == [(0, 1), (3, 2)]


def test_judge_rounds_finds_a_ten_percent_slowdown_under_drift():
    order, rounds = _session(np.random.default_rng(1), 1.10, pairs=12)
    rows = judge_rounds(order, rounds, 0.01, PairedConfig())
    by = {(r.scenario, r.percentile): r for r in rows}
    assert by[("*", "p50")].verdict == "regression"
    assert by[("*", "p95")].verdict == "regression"
    est = by[("*", "p50")].paired
    assert est is not None and math.expm1(est.low) < 0.10 < math.expm1(est.high)
    assert by[("*", "p50")].level == pytest.approx(0.01 / 2)  # one scenario: the whole run's two rows only
    assert {r.scenario for r in rows} == {"*"}


def test_judge_rounds_same_build_is_no_change():
    order, rounds = _session(np.random.default_rng(2), 1.0, pairs=12)
    rows = judge_rounds(order, rounds, 0.01, PairedConfig())
    assert {r.verdict for r in rows} == {"no_change"}


def test_judge_rounds_improvement_and_thin_tails():
    order, rounds = _session(np.random.default_rng(3), 0.85, pairs=12, n=120)
    rows = judge_rounds(order, rounds, 0.01, PairedConfig(percentiles=("p50", "p99")))
    by = {(r.scenario, r.percentile): r for r in rows}
    assert by[("*", "p50")].verdict == "improvement"
    thin = by[("*", "p99")]
    assert thin.verdict == "not_judged" and "above p99" in thin.reason and thin.paired is None


def test_judge_rounds_too_few_pairs_is_inconclusive_not_quiet():
    order, rounds = _session(np.random.default_rng(4), 1.5, pairs=3)
    rows = judge_rounds(order, rounds, 0.01, PairedConfig())
    assert {r.verdict for r in rows} == {"inconclusive"}
    assert all("too few pairs" in r.reason for r in rows)


def test_judge_rounds_scenarios_share_half_the_level():
    order, rounds = _session(np.random.default_rng(6), 1.10, pairs=12, scenarios=("a", "b"))
    rows = judge_rounds(order, rounds, 0.01, PairedConfig(percentiles=("p50",)))
    by = {r.scenario: r for r in rows}
    assert by["*"].level == pytest.approx(0.005) and by["a"].level == pytest.approx(0.0025)
    assert {r.verdict for r in rows} == {"regression"}


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((0, 1000, 300, 1000), "regression"),  # a build that fails (fast) is never "faster"
        ((300, 1000, 0, 1000), "improvement"),
        ((2, 1000, 3, 1000), "no_change"),  # 0.2 % -> 0.3 %: below the half-point floor
        ((0, 1000, 0, 1000), "no_change"),
        ((1, 100, 3, 100), "inconclusive"),  # 1 % -> 3 %: beyond the floor, not significant on 100 requests
        ((0, 0, 0, 10), "not_judged"),
    ],
)
def test_judge_errors(counts, expected):
    from loadwatch.stats.paired import judge_errors

    row = judge_errors(*counts, level=0.001)
    assert row.verdict == expected and row.percentile == "error_rate"

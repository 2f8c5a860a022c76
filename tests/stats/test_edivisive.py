from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from loadwatch.stats.edivisive import detect_change_points, rank_p, segment_stats

GOLDEN = Path(__file__).parent / "golden" / "tigerbeetle_nightly.csv"


def _tigerbeetle() -> list[float]:
    with GOLDEN.open() as f:
        return [float(r["throughput"]) for r in csv.DictReader(f)]


def _noise(seed: int, n: int, cv: float = 0.03) -> list[float]:
    return (100 * (1 + cv * np.random.default_rng(seed).standard_normal(n))).tolist()


def test_golden_tigerbeetle_matches_otava_at_its_published_settings():
    # Otava's own result at window 30, p 0.01, min magnitude 5 %: nights 15 and 71
    cps = detect_change_points(_tigerbeetle(), window=30, max_pvalue=0.01, min_magnitude=0.05)
    assert [c.index for c in cps] == [15, 71]
    assert cps[0].forward_change_percent < 0 < cps[1].forward_change_percent


def test_golden_tigerbeetle_pipeline_defaults_pinned():
    # window 30, p 0.001, no magnitude floor: pinned (Otava 0.8.0 adds night 260, a +0.8 % shift; docs/METHOD.md)
    cps = detect_change_points(_tigerbeetle(), window=30, max_pvalue=0.001)
    assert [c.index for c in cps] == [15, 61, 71, 95, 117, 131, 142, 148, 192, 212]
    assert all(c.p_value < 0.001 for c in cps)


def test_step_found_at_the_right_night():
    v = _noise(1, 80)
    v[50:] = [x * 1.2 for x in v[50:]]
    cps = detect_change_points(v)
    assert [c.index for c in cps] == [50]
    c = cps[0]
    assert 15 < c.forward_change_percent < 25
    assert c.mean_after > c.mean_before
    assert c.std_before > 0 and c.std_after > 0
    assert c.magnitude == pytest.approx(c.forward_change_percent / 100, rel=1e-9)


def test_one_night_spike_is_not_a_change():
    v = _noise(2, 60)
    v[30] *= 1.8
    assert detect_change_points(v) == []


def test_two_night_excursion_is_not_a_change():
    # segments shorter than three runs are never made: two bad nights in a row are an excursion, not a change
    v = _noise(2, 60)
    v[30] *= 1.8
    v[31] *= 1.8
    assert detect_change_points(v) == []


def test_a_change_two_runs_ago_is_found_at_its_run_but_not_one_run_ago():
    # the newest runs may form a 2-run segment (reported pending by history_change_points), never a 1-run one
    for n in (40, 41, 45):
        v = _noise(4, n)
        v[38:] = [x * 1.5 for x in v[38:]]
        assert [c.index for c in detect_change_points(v)] == [38], n
    v = _noise(4, 40)
    v[39:] = [x * 1.5 for x in v[39:]]
    assert detect_change_points(v) == []


def test_two_spikes_a_few_nights_apart_are_not_a_segment():
    # the t-test alone makes a 4-run "segment" of two one-night spikes (its variance is all in the spikes); the
    # rank test of the same two segments sees two high nights among normal ones and keeps no point
    for seed in (0, 1, 4):
        for gap in (3, 4):
            v = _noise(seed, 80)
            v[40] *= 2.0
            v[40 + gap] *= 2.0
            assert [c.index for c in detect_change_points(v, rank_check=False)] == [40, 40 + gap + 1]
            assert detect_change_points(v) == []


def test_rank_p_is_the_exact_mann_whitney_test():
    # fully separated segments: p = 2 / C(m + n, m), the smallest a rank test can give
    assert rank_p(np.array([50.0, 60.0]), np.arange(28.0)) == pytest.approx(2 / 435)
    assert rank_p(np.arange(5.0) + 10, np.arange(5.0)) == pytest.approx(2 / 252)
    # no difference at all (all ties) is no evidence; an empty side is none either
    assert rank_p(np.ones(30), np.ones(40)) == 1.0
    assert rank_p(np.array([]), np.ones(3)) == 1.0
    # large segments: the tie-corrected normal approximation, symmetric in the two sides
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 40), rng.normal(0.5, 1, 50)
    assert rank_p(a, b) == pytest.approx(rank_p(b, a))
    assert rank_p(a, b) == pytest.approx(3.758e-06, rel=1e-3)  # scipy.stats.mannwhitneyu, asymptotic


def test_spike_next_to_a_step_does_not_split_it():
    v = _noise(3, 80)
    v[40:] = [x * 1.25 for x in v[40:]]
    v[30] *= 1.6
    v[55] *= 0.5
    assert [c.index for c in detect_change_points(v)] == [40]


def test_pure_noise_has_no_change_points():
    for seed in range(10):
        assert detect_change_points(_noise(100 + seed, 120, 0.05)) == []


def test_deterministic():
    v = _tigerbeetle()
    assert detect_change_points(v, window=30) == detect_change_points(v, window=30)


def test_short_and_constant_series():
    assert detect_change_points([]) == []
    assert detect_change_points([1.0, 2.0, 3.0]) == []
    assert detect_change_points([5.0] * 40) == []
    step = [1.0] * 20 + [2.0] * 20
    assert [c.index for c in detect_change_points(step)] == [20]


def test_min_magnitude_filters_small_changes():
    v = _noise(4, 100, 0.01)
    v[50:] = [x * 1.04 for x in v[50:]]
    assert [c.index for c in detect_change_points(v)] == [50]
    assert detect_change_points(v, min_magnitude=0.05) == []


def test_segment_stats_zero_mean_and_constant():
    s = segment_stats([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    assert s.p_value == 0.0
    assert s.forward_change_percent == float("inf")
    s = segment_stats([2.0, 2.0], [2.0, 2.0])
    assert s.p_value == 1.0 and s.magnitude == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        detect_change_points([1.0] * 10, window=3)
    with pytest.raises(ValueError):
        detect_change_points([1.0] * 10, max_pvalue=0)
    with pytest.raises(ValueError):
        detect_change_points([1.0, float("nan"), 2.0, 3.0])

"""benchmarks/notify_false.py reads a recorded night's second load (record_nights.py exports the stored summary's
`confirmation`) and never makes one up."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from notify_false import _stored

from loadwatch.stats.model import RunPoint

FIRST = RunPoint("n1", datetime(2026, 12, 7, 2, tzinfo=UTC), {"a": {"p50_ms": 3.0, "requests": 400.0}},
                 {"a": "HISTFAKE"}, probe={"cpu_ms": 20.0})
SECOND = {"a": {"p50_ms": 3.1, "requests": 410.0}}


def test_a_stored_second_load_is_judged_with_its_metrics_and_the_nights_probe():
    nights = [{"confirmation": {"reason": None, "outcome": "not_reproduced", "metrics": SECOND}}]
    got = _stored(nights)(0, FIRST)
    assert got is not None
    again, draw = got
    assert again.run_id == "n1-confirm"
    assert again.metrics == SECOND
    assert dict(again.histograms) == {}  # not stored: the tail checks see the metrics only
    assert again.probe == FIRST.probe
    assert draw == {"stored_outcome": "not_reproduced"}


def test_a_night_without_a_usable_second_load_stays_on_its_first():
    nights = [{}, {"confirmation": None},
              {"confirmation": {"reason": "its generator fell behind", "outcome": "not_judged", "metrics": SECOND}},
              {"confirmation": {"reason": None, "outcome": "not_judged", "metrics": {}}}]
    assert [_stored(nights)(i, FIRST) for i in range(len(nights))] == [None, None, None, None]


def test_the_rate_carries_its_exact_95_percent_interval():
    from notify_false import _ci95
    from scipy.stats import binom

    low, high = _ci95(5, 450) or [0.0, 0.0]  # NOTIFY2's 5 of 450
    # Clopper-Pearson: at each end, the tail beyond what was seen has probability 2.5 %
    assert abs(binom.sf(4, 450, low / 100) - 0.025) < 1e-3
    assert abs(binom.cdf(5, 450, high / 100) - 0.025) < 1e-3
    assert _ci95(0, 75) == [0.0, round(100 * (1 - 0.025 ** (1 / 75)), 3)]  # none of 75
    assert _ci95(0, 0) is None

"""The histogram module: bulk recording equals hdrh's own, merges are exact (percentiles of the union), the
bucket arrays equal hdrh's own (slow, per-bucket) arithmetic."""

from __future__ import annotations

import random
from array import array

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from loadwatch import hist

PCTS = (0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5_000_000_000), min_size=1, max_size=300))
def test_record_many_equals_record_value(values: list[int]) -> None:
    a = hist.new_hist()
    for v in values:
        a.record_value(min(v, hist.HIGHEST_US))
    b = hist.new_hist()
    hist.record_many(b, array("q", values))
    assert a.get_total_count() == b.get_total_count()
    for p in PCTS:
        assert a.get_value_at_percentile(p) == b.get_value_at_percentile(p) == hist.percentile_us(b, p)
    assert a.get_max_value() == b.get_max_value() and a.get_min_value() == b.get_min_value()


def test_merged_percentiles_equal_the_union() -> None:
    rng = random.Random(7)
    shards = [[int(rng.lognormvariate(7 + i, 1.2)) for _ in range(5000)] for i in range(3)]
    union = hist.new_hist()
    hist.record_many(union, [v for s in shards for v in s])
    blobs = []
    for s in shards:
        h = hist.new_hist()
        hist.record_many(h, s)
        blobs.append(hist.encode(h))
    merged = hist.merge_encoded(blobs)
    assert hist.stats_ms(merged) == hist.stats_ms(union)
    for p in PCTS:
        assert hist.percentile_us(merged, p) == union.get_value_at_percentile(p)


@pytest.mark.parametrize(("lowest", "highest", "digits"), [(1, 3_600_000_000, 3), (1, 60_000_000, 2), (1000, 10**9, 3)])
def test_decoded_bucket_values_equal_hdrh_highest_equivalent_values(lowest, highest, digits):
    rng = np.random.default_rng(digits)
    h = HdrHistogram(lowest, highest, digits)
    values = np.clip(rng.lognormal(8, 3, 20_000).astype(np.int64), lowest, highest)
    for v in np.unique(values):
        h.record_value(int(v), 2)
    decoded = hist.decode_counts(h.encode().decode())
    assert decoded is not None
    counts = np.ctypeslib.as_array(h.counts)
    nz = np.flatnonzero(counts)
    expected = [h.get_highest_equivalent_value(h.get_value_from_index(int(i))) for i in nz]
    assert decoded.values.tolist() == [float(x) for x in expected]
    assert decoded.counts.tolist() == counts[nz].tolist()
    assert decoded.total == h.total_count


def test_unreadable_or_empty_blobs_decode_to_none():
    assert hist.decode_counts("") is None
    assert hist.decode_counts("not a histogram") is None
    assert hist.decode_counts(HdrHistogram(1, 1000, 2).encode().decode()) is None


def test_clear_empties_a_histogram_for_reuse() -> None:
    h = hist.new_hist()
    hist.record_many(h, [5, 50_000, 7_000_000])
    hist.clear(h)
    assert h.get_total_count() == 0 and hist.stats_ms(h) == hist.empty_stats()
    hist.record_many(h, [1200, 1300])
    fresh = hist.new_hist()
    hist.record_many(fresh, [1200, 1300])
    assert hist.stats_ms(h) == hist.stats_ms(fresh)
    assert h.get_min_value() == fresh.get_min_value() and hist.encode(h) == hist.encode(fresh)

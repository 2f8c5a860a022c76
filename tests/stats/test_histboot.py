"""histboot's bucket decoding against hdrh's own (slow, per-bucket) arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadwatch.stats import histboot


@pytest.mark.parametrize(("lowest", "highest", "digits"), [(1, 3_600_000_000, 3), (1, 60_000_000, 2), (1000, 10**9, 3)])
def test_decoded_bucket_values_equal_hdrh_highest_equivalent_values(lowest, highest, digits):
    rng = np.random.default_rng(digits)
    h = HdrHistogram(lowest, highest, digits)
    values = np.clip(rng.lognormal(8, 3, 20_000).astype(np.int64), lowest, highest)
    for v in np.unique(values):
        h.record_value(int(v), 2)
    decoded = histboot.decode_counts(h.encode().decode())
    assert decoded is not None
    counts = np.ctypeslib.as_array(h.counts)
    nz = np.flatnonzero(counts)
    expected = [h.get_highest_equivalent_value(h.get_value_from_index(int(i))) for i in nz]
    assert decoded.values.tolist() == [float(x) for x in expected]
    assert decoded.counts.tolist() == counts[nz].tolist()
    assert decoded.total == h.total_count


def test_unreadable_or_empty_blobs_decode_to_none():
    assert histboot.decode_counts("") is None
    assert histboot.decode_counts("not a histogram") is None
    assert histboot.decode_counts(HdrHistogram(1, 1000, 2).encode().decode()) is None

"""Histogram helpers: bulk recording equals hdrh's own, merges are exact (percentiles of the union)."""

from __future__ import annotations

import random
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from loadwatch.engine import hist
from loadwatch.engine.result import combine_parts

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


def _part(index: int, values: list[int], errors: int) -> dict[str, object]:
    h = hist.new_hist()
    hist.record_many(h, values)
    enc = hist.encode(h)
    return {
        "index": index,
        "model": "open",
        "measured_s": 10.0,
        "duration_s": 10.0,
        "warmup_s": 0.0,
        "started_at": 1000.0,
        "finished_at": 1010.0,
        "scenarios": {
            "a": {
                "requests": len(values),
                "errors": errors,
                "latency": enc,
                "service": enc,
                "errors_by_kind": {"http_5xx": {"count": errors, "sample": "HTTP 500"}} if errors else {},
                "status_classes": {"2xx": len(values) - errors, "5xx": errors},
            }
        },
        "windows": [
            {"t": 1000.0, "scenario": "a", "requests": len(values), "errors": errors, "warmup": False, "latency": enc}
        ],
        "sends": len(values),
        "measured_sends": len(values),
        "intended": len(values),
        "late": 0,
        "dropped": 0,
        "cpu_percent": 10.0,
        "loop_lag_ms": {"p99": 1.0, "max": 2.0},
    }


def test_combine_workers_sums_counts_and_merges_exactly() -> None:
    a = [100 * i for i in range(1, 1001)]
    b = [7 * i for i in range(1, 3001)]
    res = combine_parts([_part(0, a, 3), _part(1, b, 0)])
    s = res.summary
    assert s["requests"] == 4000 == sum(w["requests"] for w in s["workers"])
    assert s["errors"] == 3 and s["errors_by_kind"]["http_5xx"]["count"] == 3
    union = hist.new_hist()
    hist.record_many(union, a + b)
    assert s["latency_ms"] == hist.stats_ms(union)
    assert res.timeline[0]["requests"] == 4000
    assert s["generator_bound"] is False

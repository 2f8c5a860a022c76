"""Counter arithmetic over the load window (pure): flattening, deltas, resets, missing keys, ratios."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadwatch.observe.deltas import counter_deltas, flatten_numeric
from loadwatch.observe.postgres_stats import statement_deltas


def test_flatten_numeric_dotted_keys_and_exclusions():
    doc = {
        "uptime": 12,
        "ok": True,
        "name": "svc",
        "performance": {"cache": {"hits": 10, "misses": 2.5, "enabled": False}, "tools": [1, 2]},
        "bad": float("nan"),
        "inf": math.inf,
    }
    assert flatten_numeric(doc) == {"uptime": 12.0, "performance.cache.hits": 10.0, "performance.cache.misses": 2.5}
    assert flatten_numeric({"a": 1}, "pre.") == {"pre.a": 1.0}


def test_flatten_numeric_is_bounded_on_deep_documents():
    doc: dict = {"v": 1}
    for _ in range(100):
        doc = {"x": doc}
    assert flatten_numeric(doc) == {}, "past 32 levels the document is not a stats document"


def test_counter_deltas_window_hit_rate_not_lifetime():
    pre = {"performance": {"cache": {"hits": 1000, "misses": 0, "size": 50}}}
    post = {"performance": {"cache": {"hits": 1030, "misses": 70, "size": 40}}}
    d = counter_deltas(pre, post)
    assert d["pre"]["performance.cache.hits"] == 1000
    assert d["post"]["performance.cache.misses"] == 70
    assert d["delta"]["performance.cache.hits"] == 30
    assert d["delta"]["performance.cache.misses"] == 70
    # lifetime would be 1030/1100 = 93.6 %; this run's is 30/100
    assert d["delta"]["performance.cache.hit_rate_window"] == pytest.approx(30.0)


def test_counter_that_went_down_is_a_reset():
    d = counter_deltas({"requests": 5000, "errors": 3}, {"requests": 120, "errors": 5})
    assert d["delta"]["requests"] == 120, "reset during the window: everything counted since happened in it"
    assert d["delta"]["errors"] == 2
    assert d["resets"] == ["requests"]


def test_missing_keys_have_no_delta():
    d = counter_deltas({"a": 1, "gone": 7}, {"a": 4, "new": 9})
    assert d["delta"] == {"a": 3.0}
    assert "gone" in d["pre"] and "new" in d["post"]


def test_no_lookups_gives_no_hit_rate():
    d = counter_deltas({"cache": {"hits": 5, "misses": 5}}, {"cache": {"hits": 5, "misses": 5}})
    assert d["delta"]["cache.hit_rate_window"] is None


def test_other_ratio_pairs_postgres_and_underscore():
    pre = {"blks_hit": 100, "blks_read": 100, "cache_hit": 0, "cache_miss": 0, "xhits": 1, "xmisses": 1}
    post = {"blks_hit": 190, "blks_read": 110, "cache_hit": 3, "cache_miss": 1, "xhits": 9, "xmisses": 9}
    delta = counter_deltas(pre, post)["delta"]
    assert delta["blks_hit_rate_window"] == pytest.approx(90.0)
    assert delta["cache_hit_rate_window"] == pytest.approx(75.0)
    assert not any(k.startswith("x") and k.endswith("rate_window") for k in delta), "suffix must be a whole word"


def test_flat_and_nested_readings_agree():
    nested = counter_deltas({"a": {"b": 1}}, {"a": {"b": 4}})
    flat = counter_deltas({"a.b": 1}, {"a.b": 4})
    assert nested["delta"] == flat["delta"] == {"a.b": 3.0}


counters = st.dictionaries(st.sampled_from(["a", "b", "c.hits", "c.misses"]), st.integers(0, 10**9), max_size=4)


@given(counters, counters)
def test_deltas_are_never_negative(pre, post):
    d = counter_deltas(pre, post)
    for key, value in d["delta"].items():
        if value is None:
            continue
        assert value >= 0
        if key.endswith("hit_rate_window"):
            assert 0 <= value <= 100
        else:
            assert value == (post[key] - pre[key] if post[key] >= pre[key] else post[key])


def _row(calls: int, total: float, query: str = "SELECT 1") -> dict:
    return {
        "queryid": "1",
        "query": query,
        "calls": calls,
        "total_exec_time_ms": total,
        "rows": calls,
        "shared_blks_hit": 0,
        "shared_blks_read": 0,
    }


def test_statement_deltas_rank_by_window_time():
    pre = {"a": _row(1000, 9000.0, "old heavy"), "b": _row(10, 10.0, "hot now")}
    post = {
        "a": _row(1001, 9001.0, "old heavy"),
        "b": _row(110, 510.0, "hot now"),
        "c": _row(5, 50.0, "new"),
        "d": _row(3, 3.0, "reset"),
    }
    pre["d"] = _row(50, 80.0, "reset")
    top = statement_deltas(pre, post, limit=3)
    assert [r["query"] for r in top] == ["hot now", "new", "reset"]
    assert top[0]["calls"] == 100 and top[0]["total_exec_time_ms"] == pytest.approx(500.0)
    assert top[0]["mean_exec_time_ms"] == pytest.approx(5.0)
    assert top[2]["calls"] == 3, "a statement whose counters went down counts from zero"
    assert statement_deltas(post, post) == [], "nothing ran in an empty window"


def test_levels_are_gauges_not_deltas():
    pre = {"db": {"cache_hit_ratio": 0, "pool_size": 10, "latency_p95": 4.0, "rate": 3, "requests": 10}}
    post = {"db": {"cache_hit_ratio": 99.5, "pool_size": 5, "latency_p95": 6.0, "rate": 9, "requests": 30}}
    d = counter_deltas(pre, post)
    assert d["delta"] == {"db.requests": 20.0}
    assert d["gauges"]["db.cache_hit_ratio"] == {"pre": 0.0, "post": 99.5}
    assert set(d["gauges"]) == {"db.cache_hit_ratio", "db.pool_size", "db.latency_p95", "db.rate"}
    assert d["resets"] == [], "a smaller pool is not a counter reset"
    # words that merely end in a gauge word are counters
    assert counter_deltas({"maximums": 1, "acceptance": 1}, {"maximums": 2, "acceptance": 3})["delta"] == {
        "maximums": 1.0,
        "acceptance": 2.0,
    }

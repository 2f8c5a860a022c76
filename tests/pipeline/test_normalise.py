"""Per-request normalisation of a run's captured counters (loadwatch.pipeline.attribution), on hand-made summaries."""

from __future__ import annotations

from typing import Any

import pytest

from loadwatch import metrics, statements
from loadwatch.metrics import run_metrics
from loadwatch.pipeline import attribution as at


def _summary(**over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "load": {"requests": 900, "sends": 1000, "duration_s": 10.0, "latency_ms": {"p50": 2.0}, "scenarios": {}},
        "resources": {
            "target": {"samples": 10, "cpu_percent": {"avg": 25.0}, "rss_mb": {"avg": 80.0}},
            "database": {
                "statement_totals": {"calls": 1500.0, "total_exec_time_ms": 300.0, "rows": 4000.0,
                                     "shared_blks_hit": 12000.0, "shared_blks_read": 50.0, "statements": 3.0},
                "top_statements": [
                    {"queryid": "11", "query": "SELECT id, tool_name, version, description, platform FROM"
                     " tool_catalog.tools WHERE tool_name ILIKE $1", "calls": 900, "total_exec_time_ms": 180.0,
                     "rows": 900, "shared_blks_hit": 9000, "shared_blks_read": 0},
                    # the same queryid under another user: added up
                    {"queryid": "11", "query": "SELECT id, tool_name, version, description, platform FROM"
                     " tool_catalog.tools WHERE tool_name ILIKE $1", "calls": 100, "total_exec_time_ms": 20.0,
                     "rows": 100, "shared_blks_hit": 1000, "shared_blks_read": 0},
                    {"queryid": "22", "query": "SELECT 1", "calls": 5, "total_exec_time_ms": 0.1, "rows": 5,
                     "shared_blks_hit": 0, "shared_blks_read": 0},
                    {"queryid": "33", "query": "SELECT s.userid FROM pg_stat_statements s", "calls": 400,
                     "total_exec_time_ms": 99.0, "rows": 0, "shared_blks_hit": 0, "shared_blks_read": 0},
                ],
            },
        },
        "target_stats": {"delta": {"performance.cache.hits": 90.0, "performance.cache.misses": 10.0,
                                   "performance.cache.hit_rate_window": 90.0,
                                   "performance.database.blks_hit_rate_window": 99.9}},
        "environment": {"target_version": "1.4.2"},
    }
    s.update(over)
    return s


def test_run_level_figures_are_per_request_over_the_whole_window() -> None:
    m = metrics.attribution_metrics(_summary())["*"]
    # 1000 sends (warm-up included: the counters cover the whole load), not the 900 measured requests
    assert m["db_ms_per_req"] == pytest.approx(0.3)
    assert m["db_calls_per_req"] == pytest.approx(1.5)
    assert m["rows_per_req"] == pytest.approx(4.0)
    assert m["blks_hit_per_req"] == pytest.approx(12.0)
    assert m["blks_read_per_req"] == pytest.approx(0.05)
    # 25 % of one core for 10 s = 2.5 CPU s over 1000 requests
    assert m["cpu_ms_per_req"] == pytest.approx(2.5)
    assert m["cache_hit_rate"] == 90.0  # the cache's, not Postgres' buffer hit ratio


def test_statements_are_keyed_by_queryid_added_up_and_filtered() -> None:
    m = metrics.attribution_metrics(_summary())
    assert m["stmt:11"] == {"stmt_mean_ms": pytest.approx(0.2), "stmt_calls_per_req": pytest.approx(1.0)}
    assert "stmt:22" not in m  # 5 calls: too few for a mean worth judging
    assert "stmt:33" not in m  # loadwatch's own snapshot query
    texts = {q: s["query"] for q, s in statements.statements(_summary()).items()}
    assert texts["11"] == "SELECT … FROM tool_catalog.tools WHERE tool_name ILIKE $1"


def test_run_metrics_carries_the_attribution_figures() -> None:
    m = run_metrics(_summary())
    assert m["*"]["p50_ms"] == 2.0 and m["*"]["db_ms_per_req"] == pytest.approx(0.3)
    assert "stmt:11" in m


def test_missing_sources_are_named() -> None:
    bare = _summary(resources={}, target_stats={}, environment={})
    assert metrics.attribution_metrics(bare) == {}
    missing = " | ".join(at.missing_sources(bare))
    assert "statement-level attribution needs target.database_url" in missing
    assert "target.stats_path" in missing and "target.version_path" in missing and "target's processes" in missing
    no_pgss = _summary()
    no_pgss["resources"]["database"] = {"top_statements": []}
    assert any("pg_stat_statements" in m for m in at.missing_sources(no_pgss))
    assert at.missing_sources(_summary()) == []


def test_cache_hit_rate_prefers_a_cache_counter_and_needs_lookups() -> None:
    assert metrics.cache_hit_rate({"delta": {"a.hit_rate_window": 50.0, "x.cache.hit_rate_window": 70.0}}) == (
        "x.cache.hit_rate_window", 70.0)
    assert metrics.cache_hit_rate({"delta": {"performance.cache.hit_rate_window": None}}) is None


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("SELECT 1", "SELECT 1"),
        ("SELECT row_to_json(p)::text FROM (SELECT id, tool_name, version, description FROM tool_catalog.tools"
         " WHERE id = $1) p", "SELECT row_to_json(p)::text FROM (SELECT … FROM tool_catalog.tools WHERE id = $1) p"),
        ("select   a,\n b FROM t", "select a, b FROM t"),
    ],
)
def test_normalise_query(text: str, short: str) -> None:
    assert statements.normalise_query(text) == short


def test_normalise_query_shortens_to_the_limit() -> None:
    q = statements.normalise_query("SELECT x FROM t WHERE " + " AND ".join(f"c{i} = ${i}" for i in range(60)), limit=60)
    assert len(q) <= 60 and q.endswith(" …")


def _snap(calls: int, ms: float, query: str, qid: str) -> dict[str, Any]:
    return {"queryid": qid, "query": query, "calls": calls, "total_exec_time_ms": ms, "rows": calls,
            "shared_blks_hit": 2 * calls, "shared_blks_read": 0}


def test_the_monitor_window_totals_all_of_the_targets_statements_and_none_of_loadwatchs() -> None:
    from loadwatch.observe.monitor import Monitor

    own = "SELECT s.userid, s.queryid FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
    pre = {"counters": {"xact_commit": 1.0}, "at": 0.0,
           "statements": {"a": _snap(10, 1.0, "SELECT 1 FROM t WHERE id = $1", "1"), "own": _snap(1, 5.0, own, "9")}}
    post = {"counters": {"xact_commit": 5.0}, "at": 2.0,
            "statements": {"a": _snap(110, 21.0, "SELECT 1 FROM t WHERE id = $1", "1"),
                           "b": _snap(30, 3.0, "SELECT * FROM u", "2"), "own": _snap(2, 10.0, own, "9")}}
    w = Monitor._db_window(pre, post)
    assert [r["queryid"] for r in w["top_statements"]] == ["1", "2"]
    assert w["statement_totals"] == {"calls": 130.0, "total_exec_time_ms": 23.0, "rows": 130.0,
                                     "shared_blks_hit": 260.0, "shared_blks_read": 0.0, "statements": 2.0}


@pytest.mark.parametrize(
    ("query", "own"),
    [
        ("SELECT xact_commit, xact_rollback, blks_hit, blks_read FROM pg_stat_database WHERE datname = $1", True),
        ("SET statement_timeout = 3000", True),
        ("SELECT pg_backend_pid()", True),
        ("SELECT json_build_object($1, d.xact_commit) FROM pg_stat_database d", False),  # the target's own stats
        ("SELECT id FROM tool_catalog.tools WHERE id = $1", False),
    ],
)
def test_own_statements(query: str, own: bool) -> None:
    from loadwatch.statements import is_own_statement

    assert is_own_statement(query) is own

"""The explanation of a regression: candidates judged by the real gate (compare_stage on synthetic nights), ranked
as docs/METHOD.md §8 says, and never failing a run by themselves."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from loadwatch.metrics import run_metrics
from loadwatch.pipeline.compare import compare_stage

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NIGHTS = 15
SCENARIOS = ("list_tools", "tool_versions", "get_tool")
BASE_STMTS = {"11": ("SELECT … FROM tool_catalog.tools WHERE tool_name = $1", 0.10, 0.30),  # (text, mean, calls/req)
              "22": ("SELECT … FROM tool_catalog.tools WHERE id = $1", 0.05, 0.35)}


def _summary(rng: random.Random, *, p50: dict[str, float] | None = None, stmts: dict[str, tuple[str, float, float]]
             | None = None, hit_rate: float = 98.0, version: str = "1.4.2", cpu: float = 20.0) -> dict[str, Any]:
    def j(x: float) -> float:  # 1 % night-to-night jitter
        return x * (1 + rng.gauss(0, 0.01))

    sends = 1000.0
    lat = {sc: 2.0 for sc in SCENARIOS} | (p50 or {})
    top = []
    for qid, (text, mean, cpr) in (stmts or BASE_STMTS).items():
        calls = round(j(cpr) * sends)
        top.append({"queryid": qid, "query": text, "calls": calls, "total_exec_time_ms": j(mean) * calls,
                    "rows": calls, "shared_blks_hit": 3 * calls, "shared_blks_read": 0})
    totals = {"calls": float(sum(t["calls"] for t in top)),
              "total_exec_time_ms": sum(t["total_exec_time_ms"] for t in top),
              "rows": float(sum(t["rows"] for t in top)),
              "shared_blks_hit": float(sum(t["shared_blks_hit"] for t in top)), "shared_blks_read": 0.0}
    return {
        "load": {"requests": 900, "sends": sends, "duration_s": 10.0, "rps": 90.0, "errors": 0,
                 "latency_ms": {"p50": j(2.0), "p95": j(4.0), "p99": j(6.0)},
                 "scenarios": {sc: {"requests": 300, "errors": 0, "rps": 30.0,
                                    "latency_ms": {"p50": j(v), "p95": j(2 * v), "p99": j(3 * v)}}
                               for sc, v in lat.items()}},
        "resources": {"target": {"samples": 10, "cpu_percent": {"avg": j(cpu)}, "rss_mb": {"avg": j(80.0)}},
                      "database": {"top_statements": top, "statement_totals": totals}},
        "target_stats": {"delta": {"performance.cache.hit_rate_window": min(100.0, j(hit_rate))}},
        "environment": {"target_version": version},
    }


def _history(seed: int = 1) -> tuple[random.Random, list[dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for i in range(NIGHTS):
        s = _summary(rng)
        out.append({"run_id": f"r{i:02d}", "started_at": T0 + timedelta(days=i), "metrics": run_metrics(s),
                    "histograms": {}, "excluded": False, "verdict": "pass", "target_version": "1.4.2"})
    return rng, out


def _judge(summary: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    return compare_stage(run_id="now", started_at=T0 + timedelta(days=NIGHTS), summary=summary, histograms={},
                         history=history, threshold_exprs=[], plan_source="test").model_dump()


def _only(findings: dict[str, Any], scenario: str) -> dict[str, Any]:
    ex = findings["attribution"]["explanations"]
    assert [e["scenario"] for e in ex] == [scenario], ex
    return dict(ex[0])


def test_a_lost_index_names_the_statement_whose_mean_rose_first() -> None:
    rng, history = _history()
    stmts = dict(BASE_STMTS)
    stmts["11"] = (BASE_STMTS["11"][0], 3.0, 0.30)  # 0.1 -> 3 ms at the same calls per request
    f = _judge(_summary(rng, p50={"tool_versions": 4.0}, stmts=stmts), history)
    assert f["verdict"] == "regression"
    first = _only(f, "tool_versions")["candidates"][0]
    assert (first["kind"], first["queryid"]) == ("statement_time", "11")
    assert first["text"].startswith("database time per request +")
    assert "mean 0.10 ms → 3" in first["text"] and "(calls per request unchanged)" in first["text"]
    assert f["attribution"]["statements"]["11"] == BASE_STMTS["11"][0]


def test_an_n_plus_one_names_calls_per_request_first() -> None:
    rng, history = _history()
    stmts = dict(BASE_STMTS)
    stmts["44"] = ("SELECT row_to_json(p)::text FROM (SELECT … FROM tool_catalog.tools WHERE id = $1) p", 0.02, 17.5)
    f = _judge(_summary(rng, p50={"list_tools": 5.0}, stmts=stmts), history)
    cands = _only(f, "list_tools")["candidates"]
    assert (cands[0]["kind"], cands[0]["queryid"]) == ("statement_calls", "44"), cands
    assert cands[0]["n_plus_one"] and "calls per request 0 → 17" in cands[0]["text"]
    # 17.5 calls per request of the run, list_tools a third of it: about 52 per list_tools request
    assert "(N+1: about 5" in cands[0]["text"] and "per list_tools request)" in cands[0]["text"]
    assert cands[0]["text"].startswith("database time per request") or "database calls per request" in cands[0]["text"]


def test_a_cache_that_stops_caching_ranks_before_the_calls_it_causes() -> None:
    rng, history = _history()
    stmts = dict(BASE_STMTS)
    stmts["55"] = ("SELECT row_to_json(x)::text FROM (SELECT … FROM tool_catalog.tools t WHERE tool_name = $1) x",
                   0.3, 0.15)
    f = _judge(_summary(rng, p50={"get_tool": 3.0}, stmts=stmts, hit_rate=2.0), history)
    cands = _only(f, "get_tool")["candidates"]
    assert cands[0]["kind"] == "cache" and cands[0]["text"].startswith("cache hit rate 98")
    assert any(c.get("queryid") == "55" for c in cands[1:])
    # one more call per get_tool request: a path the cache used to serve, not an N+1
    assert all("(N+1" not in c["text"] and not c.get("n_plus_one") for c in cands)


def test_nothing_moved_is_said() -> None:
    rng, history = _history()
    f = _judge(_summary(rng, p50={"get_tool": 3.0}), history)
    e = _only(f, "get_tool")
    assert e["nothing_moved"] and e["candidates"] == [] and e["text"].startswith("nothing loadwatch measures moved")


def test_a_version_change_between_the_last_good_run_and_this_one() -> None:
    rng, history = _history()
    f = _judge(_summary(rng, p50={"get_tool": 3.0}, version="1.5.0"), history)
    c = _only(f, "get_tool")["candidates"]
    assert [x["kind"] for x in c] == ["version"]
    assert c[0]["text"] == "target version 1.4.2 → 1.5.0 between the last good run (r14) and this one"


def test_attribution_series_explain_but_never_fail_a_run() -> None:
    rng, history = _history()
    stmts = dict(BASE_STMTS)
    stmts["11"] = (BASE_STMTS["11"][0], 3.0, 0.30)
    f = _judge(_summary(rng, stmts=stmts), history)  # a statement 30x slower, no scenario slower
    assert f["verdict"] == "pass", f["verdict_reasons"]
    assert all(r["metric"] not in ("stmt_mean_ms", "db_ms_per_req") for r in f["comparison"])
    rows = {(r["scenario"], r["metric"]): r for r in f["attribution"]["rows"]}
    assert rows[("stmt:11", "stmt_mean_ms")]["outcome"] == "regression"
    assert f["attribution"]["explanations"] == []


def test_untouched_scenarios_get_no_explanation_and_short_history_is_noted() -> None:
    rng, history = _history()
    f = _judge(_summary(rng, p50={"tool_versions": 4.0}), history[:5])
    assert f["attribution"]["explanations"] == []  # too little history: nothing regressed, nothing to explain
    assert f["attribution"]["notes"] and "judged from 10" in f["attribution"]["notes"][0]

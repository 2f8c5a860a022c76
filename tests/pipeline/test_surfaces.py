"""The explanation where people read it: report.md, report.html, and `loadwatch explain` on a stored run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from loadwatch import store
from loadwatch.cli import main
from loadwatch.report.render import render_html, render_markdown

T0 = datetime(2026, 11, 20, tzinfo=UTC)
FIRST = ("database time per request +900 % (0.10 → 1.0 ms) — statement `SELECT … FROM tool_catalog.tools t"
         " WHERE tool_name = $1` mean 0.10 ms → 3.0 ms (calls per request unchanged)")
ATTRIBUTION: dict[str, Any] = {
    "statements": {"11": "SELECT … FROM tool_catalog.tools t WHERE tool_name = $1"},
    "explanations": [{"scenario": "tool_versions", "metrics": ["p50_ms"], "nothing_moved": False, "text": FIRST,
                      "candidates": [{"rank": 1, "kind": "statement_time", "tier": 1, "scenario": "tool_versions",
                                      "queryid": "11", "metric": "mean_ms", "baseline": 0.1, "value": 3.0,
                                      "score": 29.0, "text": FIRST},
                                     {"rank": 2, "kind": "version", "tier": 2, "scenario": "tool_versions",
                                      "metric": "version", "baseline": "1.4.2", "value": "1.5.0", "score": 1.0,
                                      "text": "target version 1.4.2 → 1.5.0"}]}],
    "missing": ["the cache hit rate needs target.stats_path (the target's stats endpoint)"],
    "notes": [],
    "rows": [],
}


def _summary(run_id: str, attribution: dict[str, Any] | None) -> dict[str, Any]:
    s: dict[str, Any] = {
        "schema_version": 1, "run_id": run_id, "status": "completed", "started_at": T0.isoformat(),
        "finished_at": (T0 + timedelta(seconds=10)).isoformat(), "verdict": "regression",
        "verdict_reasons": ["regression: tool_versions p50_ms +80.0%"], "trigger": "schedule",
        "plan": {"name": "t", "hash": "p1", "scenarios": [{"name": "tool_versions", "method": "GET", "path": "/v"}]},
        "environment": {"hash": "e1"},
        "load": {"requests": 100, "errors": 0, "rps": 10.0, "latency_ms": {"p50": 5.0, "p95": 9.0},
                 "scenarios": {"tool_versions": {"requests": 100, "errors": 0, "rps": 10.0,
                                                 "latency_ms": {"p50": 5.0, "p95": 9.0}}}},
        "comparison": [{"scenario": "tool_versions", "metric": "p50_ms", "outcome": "regression", "value": 5.0,
                        "baseline": 2.8, "change_percent": 80.0, "n_baseline": 10, "ci": [60.0, 95.0],
                        "ci_unit": "percent", "robust_z": 12.0, "checks": {"z": True, "floor": True, "ci": True},
                        "direction": 1, "floor": 0.05}],
    }
    if attribution is not None:
        s["attribution"] = attribution
    return s


def test_reports_show_the_ranked_explanation_and_what_was_missing() -> None:
    data = {"summary": _summary("r1", ATTRIBUTION), "history": []}
    md = render_markdown(data)
    assert "### Why it regressed" in md
    assert "1. database time per request +900 % (0.10 → 1.0 ms) — statement `SELECT … FROM tool\\_catalog" not in md
    assert "1. database time per request +900 % (0.10 → 1.0 ms) — statement `SELECT … FROM tool_catalog.tools t" \
        " WHERE tool_name = $1` mean" in md
    assert "2. target version 1.4.2 → 1.5.0" in md
    assert "not available: the cache hit rate needs target.stats" in md
    html = render_html(data)
    assert "Why it regressed" in html and "<code>SELECT … FROM tool_catalog.tools t WHERE tool_name = $1</code>" in html


def test_reports_without_attribution_have_no_section() -> None:
    assert "Why it regressed" not in render_markdown({"summary": _summary("r1", None), "history": []})


def test_explain_prints_a_stored_run_and_writes_json(fresh_db, tmp_path, capsys) -> None:
    engine = store.connect(fresh_db)
    try:
        for run_id, attr in (("r1", ATTRIBUTION), ("r0", None)):
            store.save_run(engine, {"summary": _summary(run_id, attr), "status": "completed", "histograms": {},
                                    "windows": [], "timeline": [], "resource_samples": []})
    finally:
        engine.dispose()
    out = tmp_path / "why.json"
    assert main(["explain", "r1", "--json", str(out), "--database-url", fresh_db]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[:3] == ["run r1: regression", "tool_versions (p50_ms):", f"  1. {FIRST}"]
    assert "not available: the cache hit rate" in text
    doc = json.loads(out.read_text())
    assert doc["run_id"] == "r1" and doc["explanations"][0]["candidates"][0]["text"] == FIRST
    assert main(["explain", "r0", "--database-url", fresh_db]) == 0
    assert "stored without attribution" in capsys.readouterr().out
    assert main(["explain", "nope", "--database-url", fresh_db]) == 2

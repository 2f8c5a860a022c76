"""The nightly pieces without Prefect: a plan's `capacity:` section, the stage's result as a metric of the run,
the gate and change points on it, and the report's capacity section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from loadwatch.capacity.stepper import find_capacity
from loadwatch.config import load_plan, parse_plan
from loadwatch.errors import InvalidInput
from loadwatch.metrics import ALL, run_metrics
from loadwatch.report.render import render_markdown, write_report
from loadwatch.report.view import build_view
from loadwatch.stats.gate import compare_run
from loadwatch.stats.model import RunPoint

PLAN = {
    "name": "cap",
    "target": {"url": "http://127.0.0.1:9"},
    "load": {"rate": 10, "duration": 5},
    "scenarios": [{"name": "request", "path": "/"}],
}


def test_demo_plan_has_a_modest_capacity_section():
    plan = load_plan()
    assert plan.capacity is not None
    assert plan.capacity.budget <= 60  # a nightly stays short: one minute of search at most
    assert plan.capacity.slos


def test_capacity_section_is_validated():
    ok = parse_plan({**PLAN, "capacity": {"slos": ["request: p95 < 20ms"], "budget": 30}})
    assert ok.capacity is not None and ok.capacity.max_rate == 100_000
    with pytest.raises(InvalidInput, match=r"capacity\.slos"):
        parse_plan({**PLAN, "capacity": {"slos": ["p95 ~ 20ms"]}})
    with pytest.raises(InvalidInput, match="names scenario 'other'"):
        parse_plan({**PLAN, "capacity": {"slos": ["other: p95 < 20ms"]}})
    with pytest.raises(InvalidInput, match=r"capacity\.slos"):
        parse_plan({**PLAN, "capacity": {"slos": []}})
    with pytest.raises(InvalidInput, match="unknown field"):
        parse_plan({**PLAN, "capacity": {"slos": ["p95 < 20ms"], "budgett": 3}})


def test_stage_result_becomes_a_gated_metric(server, tmp_path):
    """The flow's capacity stage is `find_capacity(run.plan, run.plan.capacity)` + `to_dict()` under "capacity":
    run it on a real server, then through the metrics, the store's view of a run and the report."""
    url = server("--mode", "pool", "--workers", "2", "--service-ms", "20")
    doc = {**PLAN, "target": {"url": url}, "capacity": {
        "slos": ["p99 < 1s"], "start_rate": 20, "max_rate": 40, "budget": 60, "resolution": 0.1,
        "settle": 1, "step": 1.5, "max_step": 3, "min_requests": 150}}
    plan = parse_plan(yaml.safe_load(yaml.safe_dump(doc)))
    assert plan.capacity is not None
    capacity = find_capacity(plan, plan.capacity, workers=1).to_dict()
    # 40 req/s is well inside the server's 100 and 1 s far above its 20 ms: every SLO holds up to max_rate (on a
    # busy machine the search may still find a lower answer; either way it is a number)
    assert capacity["outcome"] in ("max_rate", "found"), capacity["reason"]
    assert capacity["capacity_rps"] is not None
    now = datetime.now(UTC).isoformat()
    summary = {"run_id": "r1", "started_at": now, "finished_at": now, "verdict": "pass", "status": "completed",
               "trigger": "manual", "capacity": capacity,
               "load": {"requests": 10, "errors": 0, "rps": 2.0, "latency_ms": {"p50": 1, "p95": 2, "p99": 3}}}
    metrics = run_metrics(summary)
    assert metrics[ALL]["capacity_rps"] == capacity["capacity_rps"]

    history = [{"run_id": f"h{i}", "started_at": (datetime.now(UTC) - timedelta(days=5 - i)).isoformat(),
                "verdict": "pass", "metrics": {ALL: {"capacity_rps": capacity["capacity_rps"] * (1 + 0.01 * (i % 3))}}}
               for i in range(5)]
    this = {"run_id": "r1", "started_at": now, "verdict": "pass", "metrics": metrics}
    data = {"mode": "run", "summary": summary, "history": [*history, this]}
    view = build_view(data)
    assert view["capacity"]["found"]
    assert view["charts"]["capacity"] and "<svg" in view["charts"]["capacity"]
    assert "capacity" in view["charts"]["throughput"]  # the trend panel
    md = render_markdown(data, view=view)
    assert "### Capacity" in md
    paths = write_report(data, tmp_path)
    html = paths["html"].read_text()
    assert 'id="chart-capacity"' in html


def test_no_capacity_section_no_report_section(tmp_path):
    summary = {"run_id": "r1", "verdict": "pass", "status": "completed", "started_at": None, "finished_at": None,
               "trigger": "manual",
               "load": {"requests": 10, "errors": 0, "rps": 2.0, "latency_ms": {"p50": 1, "p95": 2, "p99": 3}}}
    view = build_view({"mode": "run", "summary": summary, "history": []})
    assert view["capacity"] is None and view["charts"]["capacity"] is None
    assert "capacity_rps" not in run_metrics(summary)[ALL]
    html = write_report({"mode": "run", "summary": summary, "history": []}, tmp_path)["html"].read_text()
    assert "chart-capacity" not in html


def _series(values: list[float]) -> list[RunPoint]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    return [RunPoint(run_id=f"n{i:02d}", started_at=t0 + timedelta(days=i), metrics={ALL: {"capacity_rps": v}})
            for i, v in enumerate(values)]


def test_gate_flags_a_capacity_drop_and_not_the_noise():
    clean = [812.0, 826.0, 805.0, 819.0, 830.0, 808.0, 815.0, 822.0, 811.0, 818.0]  # ~1 % spread, as measured
    points = _series([*clean, 812.0 * 0.8])
    rows = compare_run(points[-1], points[:-1])
    (row,) = [r for r in rows if r["metric"] == "capacity_rps"]
    assert row["outcome"] == "regression" and row["direction"] == -1
    rows = compare_run(_series([*clean, 809.0])[-1], _series(clean))
    (row,) = [r for r in rows if r["metric"] == "capacity_rps"]
    assert row["outcome"] == "ok"
    # more capacity is an improvement, never a regression
    rows = compare_run(_series([*clean, 1000.0])[-1], _series(clean))
    assert [r["outcome"] for r in rows if r["metric"] == "capacity_rps"] == ["improvement"]
